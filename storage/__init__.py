"""Postgres, the source of truth: tables, migrations, the batch writer and the queries."""
