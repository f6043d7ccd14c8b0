"""Errors raised by callback delivery, classified by whether trying again can help."""

from __future__ import annotations


class CallbackError(Exception):
    """A callback could not be delivered.

    `retriable` is the only thing a dispatcher should branch on: retriable errors (DNS hiccups)
    are tried again with backoff; the rest (a blocked URL) are final. Bad settings are not callback
    errors: they are `streams.settings.ConfigError`, raised at startup.
    """

    def __init__(self, reason: str, *, retriable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retriable = retriable

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, retriable={self.retriable})"


class BlockedURL(CallbackError):
    """The callback URL fails the SSRF checks; final, since the same URL will fail again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retriable=False)


class ResolutionFailed(CallbackError):
    """The host name did not resolve; retriable, since DNS failures are often transient."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retriable=True)
