"""Has this state already absorbed that input record? One answer for every stateful agent.

At-least-once delivery re-reads records after a crash or a rebalance, and upstream systems
send records twice. Every stateful agent must tell three cases apart, and each records where
its inputs came from in one of two shapes:

- **by identity**: an id (an event id, an order) is stored with the position of the record
  that applied it (``OrderState.applied``, ``CountedOrder.position``, ``OrderIndex.seen``);
- **by watermark**: an aggregate fed by one input partition (a customer's totals, a bucket, a
  window) stores the highest offset it has counted (``last_offset``).

``Seen.REPLAY`` (the very record that applied it, read again) means: never count again, but
re-send the outputs and repair whatever other write the crash lost. ``Seen.DUPLICATE`` (the
same id from another record) is an upstream duplicate: dead-letter it, or skip a re-sent copy.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

P = TypeVar("P")


class Seen(Enum):
    FIRST = "first"
    REPLAY = "replay"
    DUPLICATE = "duplicate"


def by_identity(recorded: P | None, position: P) -> Seen:
    """``recorded``: where the state's copy of this id came from (None: not absorbed)."""
    if recorded is None:
        return Seen.FIRST
    return Seen.REPLAY if recorded == position else Seen.DUPLICATE


def by_watermark(watermark: int, offset: int) -> Seen:
    """``watermark``: the highest offset of the one input partition the state has counted.

    Offsets of one partition only grow, so anything at or below it was counted: our replay.
    """
    return Seen.FIRST if offset > watermark else Seen.REPLAY
