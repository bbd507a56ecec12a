"""Fault scenarios on the real broker, each judged by the verifier; a summary table at the end.

``python -m tests.faults [scenario ...]`` (``make faults``, ``make soak``, ``make backlog``).
The scenarios are in ``tests.faults.scenarios``, a run and its supervisor in
``tests.faults.run``, the judgement in ``tests.faults.checker`` and ``verifier``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from streams.tools.bench.kafka import delete_topics_with
from tests.faults.run import Run, restart_broker
from tests.faults.scenarios import BROKER, QUICK, SCENARIOS
from tests.faults.verifier import Report
from tests.integration.harness import bootstrap


def run_scenario(name: str, seed: int, **kwargs: object) -> tuple[Run, Report]:
    fn, defaults = SCENARIOS[name]
    tmp = Path(tempfile.mkdtemp(prefix=f"ot-{name}-"))
    module = "tests.faults.faulty_worker" if name == "trouble" else "streams.cli"
    restart_broker()  # a no-op when it runs; an earlier outage scenario may have left it down
    args = {**defaults, **kwargs}
    run = Run(name, tmp, module=module, partitions=int(str(args.pop("partitions", 4))))
    store = args.pop("store", None)
    if store:
        run.env["ORDERTRIAGE_STORE"] = str(store)
    try:
        fn(run, seed, **args)
        # 15 min, or more for big backlogs: the insight agent drains orders.classified last
        # (about 900k records behind when 1M input events had drained).
        run.settle(timeout=max(900.0, len(run.inputs.sent) / 250))
        report = run.verify()
    except Exception as exc:  # the table still gets a row; the run's logs stay in tmp
        report = Report(events=len(run.inputs.sent))
        report.problem(f"{type(exc).__name__}: {exc} (logs in {tmp})")
    finally:
        for w in run.workers:
            w.stop(signal.SIGKILL)
        run._sampling = False
    if report.ok:  # a failed run keeps its logs and topics, to be read again
        shutil.rmtree(tmp, ignore_errors=True)
        if run.workers:
            forget_topics(run.workers[0].run_id)
    return run, report


def forget_topics(run_id: str) -> None:
    """Delete a passed run's topics: a broker holding every run's makes later runs slower."""
    try:
        asyncio.run(delete_topics_with(bootstrap(), run_id))
    except Exception as exc:  # the broker may be down after an outage scenario: keep them
        print(f"topics of run {run_id} kept: {exc!r}", file=sys.stderr)


def table(rows: list[tuple[str, Run, Report]]) -> str:
    head = (
        "| scenario | events | lost | state off (dup/missed) | windows off | repeated outputs"
        " | dead letters | recovery time (max) | supervisor restarts | peak memory | result |"
    )
    lines = [head, "|" + " --- |" * 11]
    for name, run, r in rows:
        recovery = f"{max(run.recoveries):.1f} s" if run.recoveries else "-"
        lines.append(
            f"| {name} | {r.events} | {r.lost} | {r.duplicated_state} | {r.windows_off}"
            f" | {r.duplicate_outputs}"
            f" | {r.dead_letters} | {recovery} | {run.supervisor_restarts}"
            f" | {run.peak_mib:.0f} MiB | {'ok' if r.ok else 'FAILED'} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", help=f"of {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED", "42")))
    parser.add_argument("--soak-minutes", type=float, default=30)
    parser.add_argument("--backlog-events", type=int, default=1_000_000)
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    rows = []
    for name in args.scenarios or QUICK + BROKER:
        extra: dict[str, object] = {}
        if name == "soak":
            extra["minutes"] = args.soak_minutes
        if name == "backlog-1m":
            extra["events"] = args.backlog_events
        started = time.monotonic()
        run, report = run_scenario(name, args.seed, **extra)
        took = time.monotonic() - started
        print(f"{name}: {'ok' if report.ok else 'FAILED'} in {took:.0f} s; {report.summary()}")
        print(table([(name, run, report)]).splitlines()[-1], flush=True)  # the row, at once
        rows.append((name, run, report))
    print(table(rows))
    return 0 if all(r.ok for _, _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
