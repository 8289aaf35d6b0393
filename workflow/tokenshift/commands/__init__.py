"""CLI subcommands, one module each (see tokenshift.cli)."""
