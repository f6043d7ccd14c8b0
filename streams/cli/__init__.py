"""The `jobstream` command line."""
