from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Lines that say nothing about a failure: Faust's assignment tables and a busy timer's warning.
NOISE = re.compile(r"^[|+]|is overlapping \(interval=")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


def log_tails(tmp: Path, lines: int = 40) -> str:
    """The last meaningful lines of every process log a test wrote under ``tmp``."""
    parts = []
    for log in sorted(tmp.glob("*.log")):
        kept = [ln for ln in log.read_text(errors="replace").splitlines() if not NOISE.search(ln)]
        parts.append(
            f"--- {log.name} (last {lines} of {len(kept)} lines)\n" + "\n".join(kept[-lines:])
        )
    return "\n".join(parts)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test shows its workers' logs: CI keeps no temporary directory to read later."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    dirs = {tmp for tmp in map(_tmp_of, getattr(item, "funcargs", {}).values()) if tmp}
    tails = "\n".join(log_tails(d) for d in sorted(dirs) if d.is_dir())
    if tails.strip():
        report.sections.append(("worker logs", tails))


def _tmp_of(value: object) -> Path | None:
    """The directory a fixture's value writes logs to: ``tmp_path``, or a worker's (a tuple's)."""
    if isinstance(value, Path):
        return value
    if isinstance(value, tuple | list):
        return next((t for t in map(_tmp_of, value) if t), None)
    tmp = getattr(value, "tmp", None)
    return tmp if isinstance(tmp, Path) else None
