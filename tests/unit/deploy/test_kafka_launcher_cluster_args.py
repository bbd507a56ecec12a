"""deploy/kafka/kafka.sh's cluster mode without starting Java: arguments, files, status, errors.

The real cluster (start, kill -9 of a leader, rejoin, stop) is
tests/integration/test_cluster_launcher.py (`make test-cluster`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

LAUNCHER = Path(__file__).parents[3] / "deploy/kafka/kafka.sh"
PORT = 9370  # nothing listens here in these tests: no command below starts a broker


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    base |= {"ORDERTRIAGE_CACHE": str(tmp_path), "KAFKA_PORT": str(PORT), **env}
    return subprocess.run(
        [str(LAUNCHER), *args], env=base, capture_output=True, text=True, timeout=30, check=False
    )


def test_status_lists_three_nodes_on_derived_ports(tmp_path: Path) -> None:
    done = run(tmp_path, "status", KAFKA_BROKERS="3")
    assert done.returncode == 3  # none running
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout
    for n, line in zip((1, 2, 3), lines[:3], strict=True):
        client = PORT + 2 * (n - 1)
        assert line.startswith(f"node={n} stopped port={client} controller_port={client + 1} ")
        assert f"/kafka/cluster-{PORT}/kafka-{n}.log" in line
    assert lines[3] == (
        f"bootstrap=127.0.0.1:{PORT},127.0.0.1:{PORT + 2},127.0.0.1:{PORT + 4} running=0/3"
    )


def test_stale_pid_file_is_not_a_running_node(tmp_path: Path) -> None:
    cluster = tmp_path / "kafka" / f"cluster-{PORT}"
    cluster.mkdir(parents=True)
    (cluster / "kafka-2.pid").write_text(f"{os.getpid()}\n")  # alive, but not that node's JVM
    done = run(tmp_path, "status", KAFKA_BROKERS="3")
    assert done.returncode == 3
    assert "node=2 stopped" in done.stdout
    assert not (cluster / "kafka-2.pid").exists()


def test_stop_without_a_cluster_is_a_no_op(tmp_path: Path) -> None:
    done = run(tmp_path, "stop", KAFKA_BROKERS="3")
    assert done.returncode == 0
    assert "not running" in done.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("status",), {"KAFKA_BROKERS": "2"}, "KAFKA_BROKERS must be 1"),
        (
            ("status",),
            {"KAFKA_BROKERS": "3", "KAFKA_CONTROLLER_PORT": "9999"},
            "single broker only",
        ),
        (("status",), {"KAFKA_BROKERS": "3", "KAFKA_PORT": "65531"}, "no room for 3 nodes"),
        (("kill-node", "4"), {"KAFKA_BROKERS": "3"}, "node must be 1, 2 or 3"),
        (("kill-node", "2"), {"KAFKA_BROKERS": "3"}, "no cluster files"),
        (("stop-node",), {"KAFKA_BROKERS": "3"}, "expected a node id"),
        (("start-node", "x"), {"KAFKA_BROKERS": "3"}, "node must be 1, 2 or 3"),
        (("leader", "orders.created"), {"KAFKA_BROKERS": "3"}, "expected TOPIC PARTITION"),
        (("leader", "t", "first"), {"KAFKA_BROKERS": "3"}, "partition must be a number"),
        (("logs", "--node"), {"KAFKA_BROKERS": "3"}, "expected a node id"),
        (("kill-node", "1"), {}, "needs the three-node cluster"),
        (("leader", "t", "0"), {}, "needs the three-node cluster"),
        (
            ("kill-node", "1"),
            {"KAFKA_BROKERS": "3", "KAFKA_BOOTSTRAP": "elsewhere:9092"},
            "local cluster only",
        ),
    ],
)
def test_errors_are_clear(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    done = run(tmp_path, *args, **env)
    assert done.returncode == 1, done
    assert done.stderr.startswith("kafka.sh: error: ")
    assert message in done.stderr


def test_single_broker_status_is_unchanged(tmp_path: Path) -> None:
    done = run(tmp_path, "status")
    assert done.returncode == 3
    assert done.stdout.strip() == (
        f"stopped port={PORT} controller_port={PORT + 1} log={tmp_path}/kafka/kafka-{PORT}.log"
    )


def test_help_names_the_fault_commands(tmp_path: Path) -> None:
    out = run(tmp_path, "help").stdout
    for command in (
        "kill-node N",
        "stop-node N",
        "start-node N",
        "leader TOPIC PART",
        "KAFKA_BROKERS",
    ):
        assert command in out
