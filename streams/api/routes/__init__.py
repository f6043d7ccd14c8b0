"""One router per resource: jobs (reads), commands (ingress), health (probes and metrics)."""
