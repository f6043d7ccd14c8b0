"""Test harness: real worker processes, real topics, real Postgres rows."""
