"""Batch jobs: polling providers for batch status and item results (contract §8)."""
