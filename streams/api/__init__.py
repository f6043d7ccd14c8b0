"""The HTTP query and ingress API (docs/contract.md §9), run by `jobstream api`."""
