"""Apache Kafka (KRaft, combined broker+controller nodes) run with `java` from jars Maven resolved: one
node, or a cluster of them on distinct local ports (`jobstream stack up --brokers 3`)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from streams.devtools.stack.exceptions import StackError
from streams.devtools.stack.process import ServiceStatus, read_pid, service_status, terminate_all
from streams.settings import Settings

HEAP = "512m"
READY_TIMEOUT_S = 90.0
# Where the repository's pom.xml lives; an installed package falls back to its bundled copy.
REPO_POM = Path(__file__).resolve().parents[3] / "pom.xml"


class KafkaNode:
    """Owns one node's configuration, data, logs and pid under the state folder (the jars are shared).

    Node 1 is `kafka/` on kafka_port / kafka_controller_port; node n of a cluster is `kafka-n/` on the
    ports recorded for it. Every node is a voter of the controller quorum."""

    def __init__(self, settings: Settings, node_id: int = 1) -> None:
        self.settings = settings
        self.node_id = node_id
        self.name = "kafka" if node_id == 1 else f"kafka-{node_id}"
        self.port, self.controller_port = node_ports(settings)[node_id - 1]
        self.root = settings.home / self.name
        self.libs = settings.home / "kafka-libs"
        self.data = self.root / "data"
        self.logs = self.root / "logs"
        self.pid_file = self.root / "kafka.pid"
        self.config = self.root / "server.properties"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def status(self) -> ServiceStatus:
        return service_status(self.name, self.pid_file, self.address)

    def fetch_jars(self) -> None:
        """Resolve Kafka and its runtime dependencies with Maven; a second run downloads nothing."""
        if any(self.libs.glob("kafka_2.13-*.jar")):
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError(
                "Maven is required to fetch Apache Kafka: install it (e.g. `apt-get install maven`)."
            )
        if not REPO_POM.exists():
            raise StackError(f"pom.xml not found at {REPO_POM}; run from a checkout of jobstream.")
        self.libs.mkdir(parents=True, exist_ok=True)
        print(f"fetching Apache Kafka jars from Maven Central into {self.libs} ...", file=sys.stderr)
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(REPO_POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            shutil.rmtree(self.libs, ignore_errors=True)
            raise StackError(f"Maven could not resolve Apache Kafka:\n{result.stdout}\n{result.stderr}")

    def up(self, cluster_id: str | None = None) -> ServiceStatus:
        """Start the node unless it runs already; return once it answers a metadata request (a node of
        a cluster answers only once a majority of the quorum runs: `start` them all, then `wait_ready`)."""
        proc = self.start(cluster_id)
        if proc is not None:
            self._wait_ready(proc)
        return self.status()

    def start(self, cluster_id: str | None = None) -> subprocess.Popen[bytes] | None:
        """Launch the node (formatting its storage for `cluster_id` the first time); None if it runs."""
        if self.status().running:
            return None
        check_java()
        self.fetch_jars()
        self._write_config()
        self._format_once(cluster_id)
        self.logs.mkdir(parents=True, exist_ok=True)
        out = open(self.logs / "server.out", "ab")  # noqa: SIM115 - handed to the child process
        proc = subprocess.Popen(
            [*self._java(), "kafka.Kafka", str(self.config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc

    def wait_ready(self, proc: subprocess.Popen[bytes] | None) -> ServiceStatus:
        if proc is not None:
            self._wait_ready(proc)
        return self.status()

    def down(self) -> None:
        stop_nodes([self])

    def kill(self) -> None:
        """SIGKILL the broker (fault tests): no clean shutdown, as in a crash."""
        pid = read_pid(self.pid_file)
        if pid is not None:
            os.kill(pid, 9)
            for _ in range(100):
                if read_pid(self.pid_file) is None:
                    break
                time.sleep(0.05)

    def _java(self) -> list[str]:
        return [
            "java",
            f"-Xmx{HEAP}",
            f"-Xms{HEAP}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.root / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.logs}",
            "-cp",
            f"{self.libs}/*",
        ]

    def _write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        nodes = node_ports(self.settings)
        template = resources.files("streams.devtools.stack").joinpath("server.properties").read_text()
        self.config.write_text(
            template.format(
                node_id=self.node_id,
                voters=",".join(f"{n}@127.0.0.1:{c}" for n, (_, c) in enumerate(nodes, start=1)),
                port=self.port,
                controller_port=self.controller_port,
                data=self.data,
                partitions=self.settings.partitions,
                replication=min(3, len(nodes)),
                min_isr=min(2, len(nodes)),  # acks=all then survives one node down, and never a lone copy
            )
        )
        log4j = resources.files("streams.devtools.stack").joinpath("log4j.properties").read_text()
        (self.root / "log4j.properties").write_text(log4j)

    def new_cluster_id(self) -> str:
        return (
            subprocess.run(
                [*self._java(), "kafka.tools.StorageTool", "random-uuid"],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )

    @property
    def formatted(self) -> bool:
        return (self.data / "meta.properties").exists()

    def formatted_cluster_id(self) -> str | None:
        """The cluster id this node's storage was formatted for, if it was."""
        if not self.formatted:
            return None
        for line in (self.data / "meta.properties").read_text().splitlines():
            if line.startswith("cluster.id="):
                return line.split("=", 1)[1].strip()
        return None

    def _format_once(self, cluster_id: str | None) -> None:
        if self.formatted:
            return
        cluster_id = cluster_id or self.new_cluster_id()
        result = subprocess.run(
            [*self._java(), "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise StackError(f"formatting KRaft storage failed:\n{result.stdout}\n{result.stderr}")

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StackError(f"Kafka exited with {proc.returncode}; see {self.logs / 'server.out'}")
            if answers_metadata(self.address):
                return
            time.sleep(0.25)
        raise StackError(
            f"Kafka did not become ready in {READY_TIMEOUT_S:.0f}s; see {self.logs / 'server.out'}"
        )


def stop_nodes(nodes: Sequence[KafkaNode]) -> None:
    """Stop nodes together (see `terminate_all`): one at a time, the last would wait for a quorum gone."""
    terminate_all(pid for node in nodes if (pid := read_pid(node.pid_file)) is not None)
    for node in nodes:
        node.pid_file.unlink(missing_ok=True)


def node_ports(settings: Settings) -> list[tuple[int, int]]:
    """(broker, controller) ports of every local node, node 1 first."""
    return [(settings.kafka_port, settings.kafka_controller_port), *settings.kafka_extra_nodes]


def answers_metadata(address: str, timeout_s: float = 2.0) -> bool:
    """True when the broker at `address` answers a Metadata request (v1, all topics)."""
    host, port = address.rsplit(":", 1)
    # Metadata v1: api_key 3, version 1, correlation 1, client "js", topics = null (-1).
    body = (3).to_bytes(2, "big") + (1).to_bytes(2, "big") + (1).to_bytes(4, "big")
    body += (2).to_bytes(2, "big") + b"js" + (-1).to_bytes(4, "big", signed=True)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
            sock.sendall(len(body).to_bytes(4, "big") + body)
            header = sock.recv(8)
            return len(header) == 8 and int.from_bytes(header[4:8], "big") == 1
    except OSError:
        return False


def check_java() -> None:
    """Kafka 3.9 needs Java 17+; say what to install when it is missing or too old."""
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "Java 17+ is required to run Kafka: install it (e.g. `apt-get install openjdk-17-jre`)."
        )
    version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', version)
    if match is None or int(match.group(1)) < 17:
        raise StackError(f"Java 17+ is required to run Kafka; found: {version.strip() or 'unknown'}")
