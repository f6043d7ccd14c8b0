"""Webhook callbacks for jobs that reach a terminal status (contract §7): pure building blocks."""
