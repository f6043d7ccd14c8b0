"""Webhook callbacks for jobs that reach a terminal status (contract §7): schedule, sign, guard, deliver."""
