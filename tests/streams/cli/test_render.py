"""What `tail` and `jobs events` print for rule 15's events: the attempt, of how many, and why."""

from __future__ import annotations

from streams.cli.render import describe_event


def test_a_failed_attempt_and_its_re_pend_say_which_attempt() -> None:
    failed = {
        "type": "job.attempt_failed",
        "attempt": 1,
        "stop_reason": "llm_api_error",
        "retry_at": "2026-01-01T00:00:05+00:00",
        "job": {"max_attempts": 3, "status": "running"},
    }
    assert describe_event(failed) == (
        "attempt 1/3 failed [llm_api_error], retry at 2026-01-01T00:00:05+00:00"
    )
    repended = {"type": "job.status_changed", "from_status": "running", "to_status": "pending", "attempt": 2}
    assert describe_event(repended) == "running -> pending (attempt 2)"
    plain = {"type": "job.status_changed", "from_status": "pending", "to_status": "running"}
    assert describe_event(plain) == "pending -> running"
