"""Which dead letters can be replayed, and the bytes to replay (no I/O).

A dead letter's value is the original sealed under the dead-letter key; replaying opens it
and re-sends it to the topic it came from, where the pipeline validates it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streams.privacy.crypto import Keyring

#: Prefix of every dead-letter header (Kafka Connect's convention).
DLQ = "ordertriage.dlq."
#: Set when the value is the original sealed under the dead-letter key.
SEALED_HEADER = DLQ + "sealed"
#: The additional data every sealed dead letter is bound to.
SEALED_AAD = b"ordertriage dead letter"


@dataclass(frozen=True)
class Replay:
    topic: str
    key: bytes | None
    value: bytes


def headers_dict(headers: Sequence[tuple[str, bytes]]) -> dict[str, bytes]:
    return dict(headers)


def replay_of(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]], ring: Keyring
) -> Replay | str:
    """The record to re-send for one dead letter, or why it cannot be replayed."""
    found = headers_dict(headers)
    topic = found.get(DLQ + "source_topic")
    if topic is None:
        return "no source_topic header: not a dead letter of ordertriage"
    if DLQ + "value_truncated" in found:
        return "truncated original: replay it from the source coordinates while retained"
    if not value:
        return "empty original"
    original = ring.open_bytes(value, SEALED_AAD) if SEALED_HEADER in found else value
    return Replay(topic=topic.decode(), key=key, value=original)
