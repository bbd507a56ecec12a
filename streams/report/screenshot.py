"""docs/report.png: the report of sample orders, rendered by a headless Chromium.

Needs the local broker (``make broker``) and Chromium (``make docs-tools``). Produces sample
orders on fresh topics (created in the last ~15 minutes, so a day report ending now holds them
all), runs a worker until they are classified, writes the report and photographs it.

    .venv/bin/python -m streams.report.screenshot docs/report.png
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.kafka.io import produce, records
from streams.report.build import build
from streams.settings import Settings
from streams.tools.demo import start_worker
from streams.tools.sample import SampleStream
from streams.topics import CLASSIFIED

ORDERS = 400


async def classified(settings: Settings) -> int:
    """Orders classified, once the classified topic has been quiet for 10 s."""
    seen: set[bytes] = set()
    async for record in records(
        settings.bootstrap, [settings.topic(CLASSIFIED)], from_beginning=True, idle_timeout=10
    ):
        if b'"cause":"order-created"' in (record.value or b"") and record.key:
            seen.add(record.key)
    return len(seen)


def main(target: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium missing: run `make docs-tools`")
    run = uuid.uuid4().hex[:8]
    os.environ.update(
        ORDERTRIAGE_TOPIC_PREFIX=f"docs{run}.",
        ORDERTRIAGE_APP_ID=f"docs-{run}",
        ORDERTRIAGE_WEB_PORT=os.environ.get("ORDERTRIAGE_WEB_PORT", "6077"),
    )
    settings = Settings()
    start = datetime.now(UTC) - timedelta(minutes=15)
    stream = SampleStream(ORDERS, seed=2026, start=start, prefix=settings.topic_prefix)
    work = Path(tempfile.mkdtemp(prefix="ordertriage-report-"))
    proc = start_worker(work / "worker.log")
    try:
        asyncio.run(produce(settings.bootstrap, stream))
        done = asyncio.run(classified(settings))
        if done < ORDERS * 0.9:  # the sample turns ~3% of records bad on purpose
            raise SystemExit(f"only {done} of {ORDERS} orders classified; see {work}/worker.log")
        event = asyncio.run(build(settings, "day", work))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    subprocess.run(  # noqa: S603 - our own chromium, our own file
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={target.resolve()}",
            "--window-size=1200,2600",
            f"file://{event.html_path}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.stdout.write(f"{event.orders} orders; report {event.html_path}; picture {target}\n")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/report.png"))
