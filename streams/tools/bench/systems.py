"""The systems under test, each started as its own process on a run's fresh topics."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from streams.topics import CLASSIFIED, CREATED, NOTIFICATIONS, STATUS_CHANGED

SYSTEMS = ("ceiling", "floor", "ordertriage", "baseline", "peer")
#: Systems that copy bytes (no classifications, no notifications); extra copies go to ``copies``.
COPIERS = ("ceiling", "floor")
PEER_PYTHON = Path(".cache/bench/peer-venv/bin/python").absolute()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunSpace:
    """One run's names: topics under a fresh prefix, a fresh consumer group and data dir."""

    system: str
    root: Path
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def prefix(self) -> str:
        return f"b{self.token}."

    @property
    def group(self) -> str:
        return f"bench-{self.system}-{self.token}"

    @property
    def inputs(self) -> list[str]:
        return [self.prefix + CREATED, self.prefix + STATUS_CHANGED]

    @property
    def classified(self) -> str:
        return self.prefix + CLASSIFIED

    @property
    def notifications(self) -> str:
        return self.prefix + NOTIFICATIONS

    @property
    def copies(self) -> str:
        return self.prefix + "copies"

    @property
    def data(self) -> Path:
        path = self.root / f"{self.system}-{self.token}"
        path.mkdir(parents=True, exist_ok=True)
        return path


def start(
    space: RunSpace, bootstrap: str, fanout: float, env_extra: dict[str, str]
) -> subprocess.Popen[bytes]:
    """Start ``space.system``; its output goes to ``<data>/log``."""
    env = dict(os.environ)
    env.update(env_extra)
    if space.system in ("ordertriage", "baseline", "floor"):  # Faust apps, the worker's settings
        env.update(
            {
                "KAFKA_BOOTSTRAP": bootstrap,
                "ORDERTRIAGE_TOPIC_PREFIX": space.prefix,
                "ORDERTRIAGE_APP_ID": space.group,
                "ORDERTRIAGE_DATA_DIR": str(space.data / "worker"),
                "ORDERTRIAGE_WEB_PORT": str(_free_port()),
                "ORDERTRIAGE_LOG_LEVEL": "warning",
            }
        )
    if space.system in ("ordertriage", "baseline"):
        command = [sys.executable, "-m", "streams.cli", "worker"]
    elif space.system == "floor":
        command = [
            sys.executable, "-m", "streams.tools.bench.floor",
            "--input", space.inputs[0], "--input", space.inputs[1],
            "--out", space.classified, "--extra", space.copies, "--fanout", f"{fanout:.4f}",
        ]  # fmt: skip
    elif space.system == "ceiling":
        command = [
            sys.executable, "-m", "streams.tools.bench.ceiling", "--bootstrap", bootstrap,
            "--input", space.inputs[0], "--input", space.inputs[1], "--group", space.group,
            "--out", space.classified, "--extra", space.copies, "--fanout", f"{fanout:.4f}",
        ]  # fmt: skip
    elif space.system == "peer":
        if not PEER_PYTHON.exists():
            raise SystemExit(f"{PEER_PYTHON} is missing: run `make install`")
        command = [
            str(PEER_PYTHON), "-m", "streams.tools.bench.peer", "--bootstrap", bootstrap,
            "--prefix", space.prefix, "--group", space.group,
            "--state-dir", str(space.data / "state"),
            "--partitions", env["ORDERTRIAGE_TOPIC_PARTITIONS"],
        ]  # fmt: skip
    else:
        raise ValueError(f"unknown system {space.system!r}")
    log = (space.data / "log").open("ab")
    # "baseline" is the worker of another checkout (``--baseline``): before/after a change.
    cwd = env.get("BENCH_BASELINE_SRC") if space.system == "baseline" else None
    return subprocess.Popen(  # noqa: S603 - our own programs, arguments built here
        command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd
    )


def output_topics(space: RunSpace) -> list[str]:
    """Topics the benchmark creates before the system starts (broker-stamped, see kafka.py)."""
    if space.system in COPIERS:
        return [space.classified, space.copies]
    return [space.classified, space.notifications]


def profile(pid: int, path: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` into ``path`` (collapsed stacks, one per line with a count)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(  # noqa: S603 - py-spy from our venv, arguments built here
        [str(spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
         "--output", str(path), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 5) -> None:
    """Stop a run's process; its topics are thrown away, so a slow shutdown is not waited for."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
