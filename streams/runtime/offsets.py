"""What the group has committed, as this worker's consumer knows it.

Faust has no public accessor for its committed offsets; ``_committed_offset`` is what its own
commit loop maintains (the offset of the next record to read, per assigned partition).
"""

from __future__ import annotations

from faust import App
from faust.types import TP


def committed(app: App, topic: str, partition: int) -> int | None:
    """The committed offset of ``topic``/``partition`` here, or None if unknown."""
    offsets = getattr(app.consumer, "_committed_offset", None)
    if offsets is None:
        return None
    value = offsets.get(TP(topic, partition))
    return value if isinstance(value, int) else None
