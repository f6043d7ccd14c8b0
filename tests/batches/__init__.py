"""Tests for batch polling, and the fake Anthropic server other suites reuse."""
