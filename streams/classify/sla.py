"""SLA clocks: how long an order may stay in some statuses, and who hears when it does not.

An SLA names the statuses its clock runs in (``[confirmed, processing]`` = "ship within 3
days of confirmation"), an optional condition (the rule language: ``{priority: P1}``), a
duration and an escalation ladder of roles. Clocks live in the order's state, so they survive
restarts and partition moves; each step of a ladder fires once per clock and its notification
id is derived from the clock, so even a replay cannot page twice.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, field_validator

from schemas.events import ClassifiedOrder, Notification, Status
from streams.classify.conditions import Condition, Fact, holds, parse, validated

_NAMESPACE = uuid.UUID("0f9a3c2e-5b7d-4e61-8a2f-736c61636c6b")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: object) -> object:
    """``90s``, ``15m``, ``2h``, ``3d`` or a number of seconds."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration like 90s, 15m, 2h or 3d")
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class Sla(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    statuses: list[Status] = Field(min_length=1, description="the clock runs in these")
    within: Duration
    when: Any = None
    ladder: list[str] = Field(min_length=1, description="roles: reminder, then escalations")
    escalate_after: Duration | None = Field(default=None, description="between steps; = within")
    _condition: Condition | None = PrivateAttr(default=None)

    @field_validator("within", "escalate_after")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be longer than 0")
        return value

    @field_validator("when")
    @classmethod
    def _parse_when(cls, value: object) -> object:
        return value if value is None else validated(value)

    def model_post_init(self, context: Any, /) -> None:
        self._condition = None if self.when is None else parse(self.when)

    def applies(self, status: Status, facts: Mapping[str, Fact]) -> bool:
        return status in self.statuses and (
            self._condition is None or holds(self._condition, facts)
        )

    @property
    def step_every(self) -> timedelta:
        return self.escalate_after or self.within


class SlaClock(BaseModel):
    """One running SLA of one order: when it started, is due, and how far it has escalated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sla_id: str
    started_at: datetime
    started_by: str = Field(description="status@time that started it (in notification ids)")
    due_at: datetime
    step_every_s: float
    ladder: list[str]
    fired: int = 0

    def step_due_at(self, step: int) -> datetime:
        return self.due_at + timedelta(seconds=self.step_every_s * step)

    @property
    def next_at(self) -> datetime | None:
        return self.step_due_at(self.fired) if self.fired < len(self.ladder) else None

    def overdue(self, now: datetime) -> bool:
        return now >= self.due_at


def start(
    slas: list[Sla],
    status: Status,
    entered_at: datetime,
    facts: Mapping[str, Fact],
    running: list[SlaClock],
) -> list[SlaClock]:
    """Clocks for an order now in ``status``: running ones whose SLA still applies go on
    (an SLA spanning several statuses keeps its clock); the rest are met or cancelled."""
    kept = {c.sla_id: c for c in running}
    out = []
    for sla in slas:
        if not sla.applies(status, facts):
            continue
        if sla.id in kept:
            out.append(kept[sla.id])
            continue
        out.append(
            SlaClock(
                sla_id=sla.id,
                started_at=entered_at,
                started_by=f"{status.value}@{entered_at.isoformat()}",
                due_at=entered_at + sla.within,
                step_every_s=sla.step_every.total_seconds(),
                ladder=list(sla.ladder),
            )
        )
    return out


def next_wakeup(clocks: list[SlaClock]) -> datetime | None:
    times = [t for c in clocks if (t := c.next_at) is not None]
    return min(times) if times else None


def fire_due(
    clocks: list[SlaClock], record: ClassifiedOrder, now: datetime
) -> tuple[list[SlaClock], list[tuple[int, Notification]]]:
    """Advance every clock past the steps due at ``now``; one notification per step."""
    out_clocks, sent = [], []
    for clock in clocks:
        fired = clock.fired
        while fired < len(clock.ladder) and clock.step_due_at(fired) <= now:
            sent.append((fired, _notification(clock, fired, record, now)))
            fired += 1
        out_clocks.append(
            clock.model_copy(update={"fired": fired}) if fired != clock.fired else clock
        )
    return out_clocks, sent


def notification_id(clock: SlaClock, step: int, order_id: str) -> str:
    return str(
        uuid.uuid5(_NAMESPACE, f"{clock.sla_id}\x1f{clock.started_by}\x1f{step}\x1f{order_id}")
    )


def _notification(
    clock: SlaClock, step: int, record: ClassifiedOrder, now: datetime
) -> Notification:
    kind: Literal["sla_reminder", "sla_escalation"] = (
        "sla_reminder" if step == 0 else "sla_escalation"
    )
    late = now - clock.due_at
    message = (
        f"Order {record.order_id} ({record.total_amount} {record.currency},"
        f" {record.priority.value})"
        f" missed SLA {clock.sla_id}: {record.status.value} since"
        f" {clock.started_at.isoformat(timespec='minutes')}, due"
        f" {clock.due_at.isoformat(timespec='minutes')}"
        + (f"; escalation level {step} ({_minutes(late)} late)" if step else "")
    )
    return Notification(
        notification_id=notification_id(clock, step, record.order_id),
        kind=kind,
        recipient_role=clock.ladder[step],
        severity="warning" if step == 0 else ("high" if step == 1 else "critical"),
        order_id=record.order_id,
        message=message,
        cause_event_id=f"sla:{clock.sla_id}:{clock.started_by}:{step}",
        priority=record.priority,
        rules_version=record.rules_version,
        created_at=now,
        rule_id=clock.sla_id,
        team=record.team,
    )


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)} min"
