"""Files: how every output is written.

Atomic writes (a temporary sibling renamed into place, so a killed job never leaves a file
that looks complete), deterministic Parquet with JSON metadata, and text tables."""
