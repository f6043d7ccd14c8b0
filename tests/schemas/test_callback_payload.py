"""The callback body (docs/contract.md §7): its fields in order, compact bytes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from schemas.callbacks import FIELDS, build_payload, encode_body, in_spec_order


def test_payload_has_the_spec_fields_in_order() -> None:
    job = {
        "id": "j1",
        "status": "failed",
        "stop_reason": "timeout",
        "completed_at": "2025-01-01T00:00:00Z",
        "metadata": {"a": 1},
        "organization_id": "acme",
        "callback_url": "https://example.com/cb",
    }
    payload = build_payload(job, "evt_1")
    assert list(payload) == ["event_id", "job_id", "status", "stop_reason", "completed_at", "metadata"]
    assert encode_body(payload) == (
        b'{"event_id":"evt_1","job_id":"j1","status":"failed","stop_reason":"timeout",'
        b'"completed_at":"2025-01-01T00:00:00Z","metadata":{"a":1}}'
    )


def test_datetimes_are_utc_with_z() -> None:
    plus_two = timezone(timedelta(hours=2))
    for completed_at in (datetime(2025, 1, 1, 2, 0, tzinfo=plus_two), datetime(2025, 1, 1, 0, 0)):
        job = {"id": "j1", "status": "completed", "completed_at": completed_at}
        assert b'"completed_at":"2025-01-01T00:00:00Z"' in encode_body(build_payload(job, "evt_1"))


def test_missing_optional_fields_are_null() -> None:
    body = encode_body(build_payload({"id": "j1", "status": "cancelled"}, "evt_1"))
    assert body.endswith(b'"stop_reason":null,"completed_at":null,"metadata":null}')


def test_stored_payload_gets_the_spec_order_back() -> None:
    payload = build_payload({"id": "j1", "status": "completed", "metadata": {"a": 1}}, "j1:4")
    jsonb_order = dict(sorted(payload.items(), key=lambda kv: (len(kv[0]), kv[0])))
    assert list(jsonb_order) != list(FIELDS)
    assert encode_body(in_spec_order(jsonb_order)) == encode_body(payload)
