"""Faust agents and timers; each module registers its own on the app."""
