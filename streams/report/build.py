"""Build a report: read the classified topic, compute the figures, write HTML and CSV.

Shared by ``ordertriage report`` and the worker's scheduled job (``streams.report.job``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas.events import (
    FeedbackClassified,
    FollowupTask,
    Notification,
    ReportPublished,
    SegmentChanged,
)
from streams.records import StaffEvent
from streams.report.care import count_care
from streams.report.figures import (
    Figures,
    Period,
    PeriodName,
    compute,
    count_feedback,
    count_sla,
)
from streams.report.render import write_csv, write_html
from streams.report.source import read_classified, read_records
from streams.report.staff import count_staff
from streams.settings import Settings
from streams.topics import (
    CLASSIFIED,
    FEEDBACK_CLASSIFIED,
    FOLLOWUPS,
    NOTIFICATIONS,
    SEGMENTS,
    STAFF_EVENTS,
)

#: Feedback received in the period may have been answered later; its records are read from a
#: little before the period too (a feedback counts in the period it was received in).
FEEDBACK_LOOKBACK = timedelta(days=1)
CARE_LOOKBACK = timedelta(days=30)
_NAMESPACE = uuid.UUID("5d1f4e0a-4f5e-4c53-9a51-6f7264657274")


def write(figures: Figures, out_dir: Path, generated_at: datetime) -> ReportPublished:
    """Write ``figures`` as HTML and CSV into ``out_dir``; the event describing them."""
    period = figures.period
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"orders-{period.name}-{period.end.strftime('%Y%m%dT%H%M')}"
    html, table = out_dir / f"{stem}.html", out_dir / f"{stem}.csv"
    write_csv(figures, table)
    write_html(figures, html, generated_at.isoformat(timespec="seconds"))
    return ReportPublished(
        report_id=str(uuid.uuid5(_NAMESPACE, f"{period.name}\x1f{period.end.isoformat()}")),
        period=period.name,
        start=period.start,
        end=period.end,
        timezone=period.timezone,
        orders=figures.orders,
        amounts=figures.amounts,
        mix={d: {v: c.orders for v, c in cells.items()} for d, cells in figures.by.items()},
        html_path=str(html.resolve()),
        csv_path=str(table.resolve()),
        generated_at=generated_at,
    )


async def build(
    settings: Settings, name: PeriodName, out_dir: Path, end: datetime | None = None
) -> ReportPublished:
    now = datetime.now(UTC)
    period = Period.ending(name, end or now, settings.timezone)
    records = await read_classified(settings.bootstrap, settings.topic(CLASSIFIED), period.start)
    notes = await read_records(
        settings.bootstrap, settings.topic(NOTIFICATIONS), period.start, Notification
    )
    feedback = await read_records(
        settings.bootstrap,
        settings.topic(FEEDBACK_CLASSIFIED),
        period.start - FEEDBACK_LOOKBACK,
        FeedbackClassified,
    )
    figures = count_feedback(count_sla(compute(records, period), notes), feedback, notes)
    # The staff section compares with the period before: its facts are read from then on.
    facts = await read_records(
        settings.bootstrap,
        settings.internal_topic(STAFF_EVENTS),
        period.start - (period.end - period.start),
        StaffEvent,
    )
    figures.staff = count_staff(period.start, period.end, facts)
    # Tasks still open may have been opened long before: read them from a window back.
    since = period.start - CARE_LOOKBACK
    moves = await read_records(settings.bootstrap, settings.topic(SEGMENTS), since, SegmentChanged)
    tasks = await read_records(settings.bootstrap, settings.topic(FOLLOWUPS), since, FollowupTask)
    figures.care = count_care(period.start, period.end, moves, tasks)
    return write(figures, out_dir, now)
