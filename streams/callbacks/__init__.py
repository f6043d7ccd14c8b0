"""Webhooks for jobs that reach a terminal status (docs/contract.md §7): schedule, sign, guard, deliver."""
