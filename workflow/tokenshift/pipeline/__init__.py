"""Pipeline: the glue between Snakemake and the library.

``config`` validates a run configuration against the JSON schema (filling defaults) and
resolves derived values once; ``rulectx`` is what every rule script does first (log, threads,
one-line user errors); ``sources`` lists the library files a script imports so that editing
one reruns exactly the rules that use it."""
