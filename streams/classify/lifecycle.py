"""Order statuses: the allowed transitions and the category of each status."""

from __future__ import annotations

from schemas.events import Status, StatusCategory

S = Status

#: status -> statuses it may move to. Documented in the README; ``completed -> processing``
#: is not allowed, ``cancelled`` is final, a completed order may still be returned.
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


class InvalidTransition(ValueError):
    """A status change the state machine refuses; ``code`` is the dead-letter reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def status_category(status: Status) -> StatusCategory:
    return CATEGORIES[status]


def check_transition(current: Status, from_status: Status, to_status: Status) -> None:
    """Raise :class:`InvalidTransition` unless ``current -> to_status`` is allowed."""
    if from_status != current:
        raise InvalidTransition(
            "status_mismatch",
            f"event says the order moves from {from_status.value!r} but it is {current.value!r}",
        )
    if to_status not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none (final)"
        raise InvalidTransition(
            "invalid_transition",
            f"{current.value} -> {to_status.value} is not allowed; allowed: {allowed}",
        )
