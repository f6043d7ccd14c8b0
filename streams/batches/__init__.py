"""Batch jobs: polling providers for batch status and item results (docs/contract.md §8)."""
