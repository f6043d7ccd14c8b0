"""Cancel propagation in the poller (docs/contract.md §8 "Cancel"): what reaches the fake provider, what is
recorded, and what is published afterwards. The ledger is in memory (its Postgres twin: tests/storage)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from storage.queries.batches import RunningBatch
from streams.poller.cancelling import CancelAnswer, judge, judge_refusal
from streams.poller.exceptions import ProviderError
from streams.poller.poller import Poller
from streams.poller.providers.anthropic import AnthropicBatchProvider
from streams.poller.providers.base import ProviderBatch
from streams.poller.providers.openai import OpenAIBatchProvider
from streams.settings import PollerSettings
from tests.support.cancel_ledger import Entry, MemoryCancelLedger
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeOpenAI
from tests.support.poller_harness import Harness, make_poller


@dataclass
class Rig:
    """The fake provider, the real provider on it, and the poller's ledger, database and topic in memory."""

    fake: FakeAnthropic
    provider: AnthropicBatchProvider
    harness: Harness
    settings: PollerSettings
    ledger: MemoryCancelLedger = field(default_factory=MemoryCancelLedger)

    def poller(self) -> Poller:
        return make_poller(self.provider, self.harness, self.settings, self.ledger)

    def cancelled_batch(self, count: int = 10) -> RunningBatch:
        """A batch the provider is still running whose job was cancelled: no longer in the running scan."""
        provider_batch_id = self.fake.create_batch(count=count)
        batch = RunningBatch(f"job-{provider_batch_id[-6:]}", "anthropic", provider_batch_id)
        self.ledger.owe(batch)
        return batch

    def cancels_sent(self, batch: RunningBatch) -> int:
        path = f"/v1/messages/batches/{batch.provider_batch_id}/cancel"
        return sum(1 for r in self.fake.requests if r.method == "POST" and r.path == path)

    def entry(self, batch: RunningBatch) -> Entry:
        return self.ledger.entries[batch.batch_job_id]


@pytest.fixture
def rig(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> Rig:
    return Rig(fake_anthropic, anthropic_provider, harness, poller_settings)


async def test_a_cancel_is_sent_once_and_the_batch_followed_until_it_ends(rig: Rig) -> None:
    batch = rig.cancelled_batch()
    rig.fake.finish_items(batch.provider_batch_id, 3)
    poller = rig.poller()

    first = await poller.poll_once()

    assert rig.cancels_sent(batch) == 1 and rig.fake.status(batch.provider_batch_id) == "canceling"
    entry = rig.entry(batch)
    assert entry.outcome == "acknowledged" and not entry.finished and entry.attempts == 1
    assert (first.cancels, first.batches) == (1, 1), "an acknowledged cancel is followed in the same round"
    (status,) = rig.harness.for_batch(batch)
    assert status.provider_status == "canceling" and not status.ended

    await poller.poll_once()
    rig.fake.end_batch(batch.provider_batch_id)
    await poller.poll_once()

    assert rig.cancels_sent(batch) == 1, "rounds after the answer send no cancel"
    final = rig.harness.for_batch(batch)[-1]
    assert final.ended and final.cancelled and final.final and final.total_items == 10
    types = [item.result_type for m in rig.harness.for_batch(batch) for item in m.items]
    assert sorted(types) == ["canceled"] * 7 + ["succeeded"] * 3


async def test_a_batch_that_has_ended_gets_no_cancel(rig: Rig) -> None:
    batch = rig.cancelled_batch(count=4)
    rig.fake.end_batch(batch.provider_batch_id)

    await rig.poller().poll_once()

    assert rig.cancels_sent(batch) == 0
    assert rig.entry(batch).outcome == "already_ended"
    final = rig.harness.for_batch(batch)[-1]
    assert final.ended and not final.cancelled and final.total_items == 4, "its results are still collected"


async def test_a_refused_cancel_is_recorded_and_not_sent_again(rig: Rig) -> None:
    batch = rig.cancelled_batch()
    rig.fake.fail_next(1, status=403, path_contains="/cancel")
    poller = rig.poller()

    for _ in range(3):
        await poller.poll_once()

    assert rig.cancels_sent(batch) == 1
    entry = rig.entry(batch)
    assert entry.outcome == "refused" and entry.error is not None and "403" in entry.error
    assert not entry.finished and rig.harness.for_batch(batch), (
        "the batch is followed until the provider ends it"
    )


async def test_a_cancel_for_a_batch_the_provider_does_not_know_is_finished(rig: Rig) -> None:
    batch = RunningBatch("job-gone", "anthropic", "msgbatch_unknown")
    rig.ledger.owe(batch)

    await rig.poller().poll_once()

    entry = rig.entry(batch)
    assert entry.outcome == "refused" and entry.finished and "404" in (entry.error or "")
    assert rig.cancels_sent(batch) == 0 and rig.harness.published == []


async def test_outages_are_retried_until_the_provider_answers(rig: Rig) -> None:
    batch = rig.cancelled_batch()
    # More 5xx than one round's attempts (3): the first round gives the claim back, the second succeeds.
    rig.fake.fail_next(4, status=503, path_contains="/cancel")
    poller = rig.poller()

    first = await poller.poll_once()
    entry = rig.entry(batch)
    assert (first.cancels, first.cancels_deferred) == (0, 1)
    assert entry.outcome is None and entry.claimed_until is None and "503" in (entry.error or "")
    second = await poller.poll_once()

    assert second.cancels == 1 and entry.outcome == "acknowledged" and entry.attempts == 2
    assert rig.cancels_sent(batch) == 5, "four answered 503, the fifth was taken"
    assert rig.fake.status(batch.provider_batch_id) == "canceling"


async def test_a_cancel_whose_answer_was_lost_is_not_sent_again(rig: Rig) -> None:
    batch = rig.cancelled_batch()
    rig.fake.lose_cancel_response_next(1, seconds=2)  # the cancel takes effect, the answer times out

    await rig.poller().poll_once()

    assert rig.cancels_sent(batch) == 1, "the retry asked first and found the cancel on record"
    assert rig.entry(batch).outcome == "acknowledged"


async def test_pollers_sharing_the_ledger_send_one_cancel(rig: Rig) -> None:
    batches = [rig.cancelled_batch() for _ in range(5)]
    pollers = [rig.poller() for _ in range(3)]

    await asyncio.gather(*(p.poll_once() for p in pollers))
    await asyncio.gather(*(p.poll_once() for p in pollers))

    assert [rig.cancels_sent(b) for b in batches] == [1] * 5
    assert all(rig.entry(b).outcome == "acknowledged" for b in batches)


async def test_a_poller_that_died_holding_the_claim_is_succeeded_without_a_second_cancel(rig: Rig) -> None:
    batch = rig.cancelled_batch()
    # The first poller claimed, sent the cancel and died before recording the answer.
    assert await rig.ledger.claim(batch.batch_job_id, lease_s=0.2)
    await rig.provider.cancel(batch.provider_batch_id)
    poller = rig.poller()

    held = await poller.poll_once()
    assert held.cancels == 0 and rig.entry(batch).outcome is None, "the claim is still held"
    await asyncio.sleep(0.3)
    await poller.poll_once()

    assert rig.cancels_sent(batch) == 1
    assert rig.entry(batch).outcome == "acknowledged"


def test_the_lease_outlasts_a_claims_longest_round() -> None:
    settings = PollerSettings(request_timeout_s=60, retry_attempts=5, retry_backoff_max_s=30)
    assert settings.cancel_lease_s >= 2 * 5 * (3 * 60 + 30)
    assert PollerSettings(request_timeout_s=0.1).cancel_lease_s == 60


def _batch(status: str, cancel_initiated: bool = False) -> ProviderBatch:
    return ProviderBatch("msgbatch_x", status, cancel_initiated=cancel_initiated)  # type: ignore[arg-type]


def test_judging_what_the_provider_says() -> None:
    assert judge(_batch("in_progress")) is None
    assert judge(_batch("canceling", True)) == CancelAnswer("acknowledged")
    assert judge(_batch("ended", True)) == CancelAnswer("acknowledged")
    assert judge(_batch("ended")) == CancelAnswer("already_ended")
    refusal = ProviderError("no", retriable=False, status_code=400)
    assert judge_refusal(refusal, _batch("ended")) == CancelAnswer("already_ended", "no")
    assert judge_refusal(refusal, None) == CancelAnswer("refused", "no")
    assert judge_refusal(refusal, _batch("in_progress")) == CancelAnswer("refused", "no")
    assert judge_refusal(refusal, _batch("canceling", True)) == CancelAnswer("acknowledged", "no")
    unknown = ProviderError("gone", retriable=False, status_code=404)
    assert judge_refusal(unknown, None) == CancelAnswer("refused", "gone", finished=True)


async def test_an_openai_batch_is_cancelled_once_and_ends_cancelled(
    fake_openai: FakeOpenAI,
    openai_provider: OpenAIBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    ledger = MemoryCancelLedger()
    batch = RunningBatch("job-openai", "openai", fake_openai.create_batch(count=6))
    late = RunningBatch("job-late", "openai", fake_openai.create_batch(count=2))
    ledger.owe(batch)
    ledger.owe(late)
    fake_openai.finish_items(batch.provider_batch_id, 2)
    fake_openai.end_batch(late.provider_batch_id)  # completed before the poller got to it
    poller = make_poller({"openai": openai_provider}, harness, poller_settings, ledger)

    await poller.poll_once()
    fake_openai.end_batch(batch.provider_batch_id)
    await poller.poll_once()

    def sent(which: RunningBatch) -> int:
        path = f"/v1/batches/{which.provider_batch_id}/cancel"
        return sum(1 for r in fake_openai.requests if r.method == "POST" and r.path == path)

    assert sent(batch) == 1 and ledger.entries[batch.batch_job_id].outcome == "acknowledged"
    final = harness.for_batch(batch)[-1]
    assert final.outcome == "cancelled" and final.cancelled and final.total_items == 6
    kinds = sorted(item.result_type for m in harness.for_batch(batch) for item in m.items)
    assert kinds == ["canceled"] * 4 + ["succeeded"] * 2
    assert ledger.entries[late.batch_job_id].outcome == "already_ended" and sent(late) == 0
    assert harness.for_batch(late)[-1].outcome == "completed", "its results are still collected"
