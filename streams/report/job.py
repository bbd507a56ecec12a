"""The scheduled report: on the leader only, at ``report_cron`` in ``timezone``."""

from __future__ import annotations

import asyncio
import logging
from zoneinfo import ZoneInfo

from streams.app import Worker

log = logging.getLogger("ordertriage.report")


def register(w: Worker) -> None:
    settings = w.settings

    @w.app.crontab(settings.report_cron, timezone=ZoneInfo(settings.timezone), on_leader=True)
    async def scheduled_report() -> None:
        # Imported here: matplotlib costs the worker ~40 MiB, worth it only once a report runs.
        from streams.report.build import build

        # In a thread with its own loop: decoding a week of records must not stall the agents.
        job = build(settings, settings.report_period, settings.report_dir)
        try:
            event = await asyncio.to_thread(asyncio.run, job)
        except Exception:
            # A failed report (broker away, disk full) must not end the schedule or the worker.
            log.exception(
                "scheduled %s report failed; next run as scheduled", settings.report_period
            )
            return
        await w.topics.reports.send(key=event.report_id.encode(), value=event)
        log.info("report %s: %d orders -> %s", event.period, event.orders, event.html_path)
