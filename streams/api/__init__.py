"""The HTTP query and ingress API (spec §9), run by `jobstream api`."""
