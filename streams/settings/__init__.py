"""The settings tree: `Settings.from_env()` reads every service setting once, at process start.

Submodules: `env` (parsers, ConfigError), `service` (Settings), `topics`, `callbacks`, `poller`, `api`
(bearer tokens), `ports` (the local stack's recorded ports).
"""

from streams.settings.api import TOKENS_ENV, TOKENS_FILE_ENV, read_api_tokens
from streams.settings.callbacks import CallbackSettings, IPNetwork, parse_cidrs
from streams.settings.env import ConfigError
from streams.settings.poller import DEFAULT_ANTHROPIC_BASE_URL, DEFAULT_OPENAI_BASE_URL, PollerSettings
from streams.settings.ports import LOCAL_PORTS, read_local_ports, record_local_ports
from streams.settings.service import LOG_LEVELS, ROLES, Settings
from streams.settings.topics import Topics

__all__ = [
    "DEFAULT_ANTHROPIC_BASE_URL",
    "DEFAULT_OPENAI_BASE_URL",
    "LOCAL_PORTS",
    "LOG_LEVELS",
    "ROLES",
    "TOKENS_ENV",
    "TOKENS_FILE_ENV",
    "CallbackSettings",
    "ConfigError",
    "IPNetwork",
    "PollerSettings",
    "Settings",
    "Topics",
    "parse_cidrs",
    "read_api_tokens",
    "read_local_ports",
    "record_local_ports",
]
