"""The scheduled report: on the leader only, at ``report_cron`` in ``timezone``."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from streams.app import app, settings, topics
from streams.report.build import build

log = logging.getLogger("ordertriage.report")


@app.crontab(settings.report_cron, timezone=ZoneInfo(settings.timezone), on_leader=True)
async def scheduled_report() -> None:
    event = await build(settings, settings.report_period, settings.report_dir)
    await topics.reports.send(key=event.report_id.encode(), value=event)
    log.info("report %s: %d orders -> %s", event.period, event.orders, event.html_path)
