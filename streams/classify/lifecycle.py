"""Order statuses: the state machine (allowed transitions, category of each status).

The machine is part of the rule set (``lifecycle:``), so a business that skips ``processing``
or allows ``cancelled`` after ``shipped`` changes data, not code. The statuses themselves are
the event contract's vocabulary (``schemas.events.Status``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.events import Status, StatusCategory

S = Status

#: status -> statuses it may move to. ``completed -> processing`` is not allowed,
#: ``cancelled`` is final, a completed order may still be returned.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.NEW: frozenset({S.CONFIRMED, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.PROCESSING, S.CANCELLED}),
    S.PROCESSING: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.RETURNED}),
    S.DELIVERED: frozenset({S.COMPLETED, S.RETURNED}),
    S.COMPLETED: frozenset({S.RETURNED}),
    S.CANCELLED: frozenset(),
    S.RETURNED: frozenset(),
}

CATEGORIES: dict[Status, StatusCategory] = {
    S.NEW: StatusCategory.NEW,
    S.CONFIRMED: StatusCategory.IN_PROGRESS,
    S.PROCESSING: StatusCategory.IN_PROGRESS,
    S.SHIPPED: StatusCategory.IN_PROGRESS,
    S.DELIVERED: StatusCategory.IN_PROGRESS,
    S.COMPLETED: StatusCategory.COMPLETED,
    S.CANCELLED: StatusCategory.CLOSED,
    S.RETURNED: StatusCategory.CLOSED,
}

FINISHED = frozenset({StatusCategory.COMPLETED, StatusCategory.CLOSED})


class InvalidTransition(ValueError):
    """A status change the state machine refuses; ``code`` is the dead-letter reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Lifecycle(BaseModel):
    """A state machine over the contract's statuses; the default is the table above."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transitions: dict[Status, list[Status]] = Field(
        default_factory=lambda: {s: sorted(t) for s, t in TRANSITIONS.items()}
    )
    categories: dict[Status, StatusCategory] = Field(default_factory=lambda: dict(CATEGORIES))

    @model_validator(mode="after")
    def _complete(self) -> Lifecycle:
        for name, table in (("transitions", self.transitions), ("categories", self.categories)):
            missing = [s.value for s in Status if s not in table]
            if missing:
                raise ValueError(f"{name} must list every status; missing: {', '.join(missing)}")
        if self.categories[Status.NEW] is not StatusCategory.NEW:
            raise ValueError("status new must be in category new (orders start there)")
        for status, targets in self.transitions.items():
            if status in targets:
                raise ValueError(f"{status.value} may not move to itself")
            if self.categories[status] in FINISHED and any(
                self.categories[t] not in FINISHED for t in targets
            ):
                raise ValueError(f"finished status {status.value} may not reopen the order")
        return self

    def category(self, status: Status) -> StatusCategory:
        return self.categories[status]

    def finished(self, status: Status) -> bool:
        return self.categories[status] in FINISHED

    def check(self, current: Status, from_status: Status, to_status: Status) -> None:
        """Raise :class:`InvalidTransition` unless ``current -> to_status`` is allowed."""
        if from_status != current:
            raise InvalidTransition(
                "status_mismatch",
                f"event says the order moves from {from_status.value!r}"
                f" but it is {current.value!r}",
            )
        allowed = self.transitions[current]
        if to_status not in allowed:
            shown = ", ".join(sorted(s.value for s in allowed)) or "none (final)"
            raise InvalidTransition(
                "invalid_transition",
                f"{current.value} -> {to_status.value} is not allowed; allowed: {shown}",
            )


DEFAULT = Lifecycle()


def status_category(status: Status) -> StatusCategory:
    """The default machine's category (rule sets may define their own)."""
    return CATEGORIES[status]


def check_transition(current: Status, from_status: Status, to_status: Status) -> None:
    """The default machine's check (rule sets may define their own)."""
    DEFAULT.check(current, from_status, to_status)
