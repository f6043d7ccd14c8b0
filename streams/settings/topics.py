"""Topic names (docs/contract.md §2), configurable so several deployments can share one Kafka cluster."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from streams.settings.env import invalid, raw

NAMESPACE_ENV = "JOBSTREAM_NAMESPACE"
# Kafka's own rule; checked here so a typo is a startup error, not a broker error mid-deploy.
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_TOPIC_RULE = "a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)"


@dataclass(frozen=True)
class Topics:
    commands: str = "jobs.commands"
    events: str = "jobs.events"
    deadletter: str = "jobs.deadletter"
    batch_results: str = "batches.results"
    resume: str = "jobs.resume"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Topics:
        """Each name from its own variable, else the default under JOBSTREAM_NAMESPACE (if set)."""
        namespace = namespace_from_env(environ)
        prefix = f"{namespace}." if namespace else ""

        def name(suffix: str, default: str) -> str:
            variable = f"JOBSTREAM_TOPIC_{suffix}"
            return topic_name(variable, raw(environ, variable) or prefix + default)

        return cls(
            commands=name("COMMANDS", cls.commands),
            events=name("EVENTS", cls.events),
            deadletter=name("DEADLETTER", cls.deadletter),
            batch_results=name("BATCH_RESULTS", cls.batch_results),
            resume=name("RESUME", cls.resume),
        )


def namespace_from_env(environ: Mapping[str, str]) -> str | None:
    """The deployment's namespace; it prefixes topic names, so it obeys their rule."""
    namespace = raw(environ, NAMESPACE_ENV)
    return None if namespace is None else topic_name(NAMESPACE_ENV, namespace)


def topic_name(variable: str, name: str) -> str:
    if not _TOPIC.fullmatch(name) or name in (".", ".."):
        raise invalid(variable, _TOPIC_RULE, name)
    return name
