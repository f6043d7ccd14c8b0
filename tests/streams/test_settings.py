"""Settings that decide where a worker keeps its local state (no services needed)."""

from __future__ import annotations

from streams.settings import Settings


def test_deployments_never_share_a_workers_local_state() -> None:
    """A namespaced worker and the default one, both named `worker`, on one host: their RocksDB stores
    track different changelogs, so sharing one folder made the second refuse to start."""
    default = Settings.from_env({"JOBSTREAM_HOME": "/srv/js"})
    namespaced = Settings.from_env({"JOBSTREAM_HOME": "/srv/js", "JOBSTREAM_NAMESPACE": "staging"})
    assert default.worker_name == namespaced.worker_name == "worker"
    assert default.worker_state_dir != namespaced.worker_state_dir
    assert str(default.worker_state_dir).startswith("/srv/js/worker-data/")


def test_two_workers_of_one_deployment_keep_separate_state() -> None:
    first = Settings.from_env({"JOBSTREAM_WORKER_NAME": "w1"})
    second = Settings.from_env({"JOBSTREAM_WORKER_NAME": "w2"})
    assert first.worker_state_dir.parent == second.worker_state_dir.parent
    assert first.worker_state_dir != second.worker_state_dir
