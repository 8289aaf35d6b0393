"""CLI subcommands: the library's stages without Snakemake, one module per ``tokenshift <command>``.

Each module exposes ``add_parser(subparsers)``; defaults come from the config schema, so a
command and the pipeline rule behind it agree on every setting a user leaves out.
"""
