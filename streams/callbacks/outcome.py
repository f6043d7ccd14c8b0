"""What one delivery attempt observed, as plain data for the retry policy to judge."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AttemptOutcome:
    """The facts of one attempt; the sender reports, `policy.judge_attempt` judges.

    Exactly one of these describes it: a `status_code` (the receiver answered), `blocked` (the
    URL failed the SSRF checks, nothing was sent), or an `error` without a status (network
    failure; `timed_out` when it was the per-attempt timeout).
    """

    status_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None
    blocked: bool = False
    timed_out: bool = False
    elapsed_s: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
