"""Agent tests on Faust's in-memory test context: no broker, no network.

The worker is built from settings given here (``streams.app.build``) and its agents are
registered as the worker command does. Outputs are captured by replacing each output topic's
``send`` with an ``AsyncMock``; table writes go to the memory store, and their changelog
records stay in the never-started producer's buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from faust import Sensor
from faust.types import TP, EventT, StreamT
from faust.types.agents import AgentTestWrapperT
from faust.types.tuples import Message
from pydantic import SecretStr

from streams import agents
from streams.app import build
from streams.privacy.replay import Replay, replay_of
from streams.runtime.deadletters import DLQ
from streams.settings import Settings

APP_ID = "ot-agent-tests"
GRACE_SECONDS = 5.0
WINDOW_SECONDS = 60
LATENESS_SECONDS = 10.0
#: A port nothing listens on: should anything still try to reach a broker, it fails fast.
NO_BROKER = "127.0.0.1:9"
RECLASSIFY_BATCH = 2
RETENTION_SECONDS = 100
#: How long ``deliver`` waits for an agent to finish one record (it takes milliseconds).
PROCESSING_TIMEOUT = 5.0

_DATA_DIR = tempfile.mkdtemp(prefix="ot-agent-tests-")
#: The worker under test: settings given here, whatever the environment says.
SETTINGS = Settings(
    KAFKA_BOOTSTRAP=NO_BROKER,
    app_id=APP_ID,
    topic_prefix="",
    data_dir=Path(_DATA_DIR),
    store="memory://",
    # One partition: every key belongs on partition 0, where the tests deliver (a record on
    # another partition is one a producer misrouted).
    topic_partitions=1,
    analytics_windows=[WINDOW_SECONDS],
    analytics_lateness_seconds=LATENESS_SECONDS,
    analytics_retention_seconds=10800,
    status_grace_seconds=GRACE_SECONDS,
    dedupe_history=64,
    rules_file=None,  # the built-in rules
    reclassify_batch_size=RECLASSIFY_BATCH,
    reclassify_cron="",
    finished_retention_seconds=RETENTION_SECONDS,
    master_key=SecretStr("11" * 32),
)


class Processed(Sensor):
    """Resolves a future when a stream has finished with an event.

    ``AgentTestWrapper.put(wait=True)`` returns when the value *enters* an agent that does not
    yield, before the agent body has run. A stream reports ``on_stream_event_out`` when the
    agent asks for the next event, i.e. after the body has finished with this one.
    """

    def __post_init__(self) -> None:
        self._waiting: list[tuple[EventT, asyncio.Future[None]]] = []

    def on_stream_event_out(
        self,
        tp: TP,
        offset: int,
        stream: StreamT,
        event: EventT,
        state: dict[Any, Any] | None = None,
    ) -> None:
        for waiting in [w for w in self._waiting if w[0] is event]:
            self._waiting.remove(waiting)
            if not waiting[1].done():
                waiting[1].set_result(None)

    def expect(self, event: EventT) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((event, future))
        return future

    def forget(self, event: EventT) -> None:
        self._waiting = [w for w in self._waiting if w[0] is not event]


ot = build(SETTINGS)
AGENTS = agents.register(ot)
ot.app.finalize()
assert ot.settings.app_id == APP_ID and ot.settings.store == "memory://"
assert ot.app.conf.store.scheme == "memory"
PROCESSED = Processed()
ot.app.sensors.add(PROCESSED)


@pytest.fixture(scope="package", autouse=True)
def no_broker() -> Iterator[None]:
    """Any attempt to bootstrap a Kafka client fails the test instead of hanging."""

    async def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("an agent test tried to connect to Kafka")

    with patch("aiokafka.client.AIOKafkaClient.bootstrap", new=refuse):
        yield
    shutil.rmtree(_DATA_DIR, ignore_errors=True)


@dataclass
class Outputs:
    """``send`` of every topic the agents write to, replaced by mocks."""

    by_customer: AsyncMock
    erasures: AsyncMock
    enriched: AsyncMock
    status_rerouted: AsyncMock
    staff_events: AsyncMock
    classified: AsyncMock
    notifications: AsyncMock
    analytics: AsyncMock
    deadletter: AsyncMock
    feedback_by_order: AsyncMock
    feedback_cases: AsyncMock
    feedback_updates: AsyncMock
    feedback_classified: AsyncMock
    customer_care: AsyncMock
    segments: AsyncMock
    followups: AsyncMock

    def kwargs(self, name: str) -> list[dict[str, Any]]:
        mock: AsyncMock = getattr(self, name)
        return [call.kwargs for call in mock.await_args_list]

    def values(self, name: str) -> list[Any]:
        return [kwargs["value"] for kwargs in self.kwargs(name)]

    def dead_letters(self) -> list[DeadLetter]:
        """What was dead-lettered; ``value`` as ``ordertriage deadletters replay`` opens it."""
        letters = []
        for kwargs in self.kwargs("deadletter"):
            sealed: bytes = kwargs["value"]
            replay = replay_of(kwargs["key"], sealed, kwargs["headers"], ot.keyring)
            value = replay.value if isinstance(replay, Replay) else sealed
            # Sealed: the original (contact data, feedback text) is never on the topic in clear.
            assert not sealed or (sealed.startswith(b"ot1D") and value not in sealed)
            headers = {name.removeprefix(DLQ): v.decode() for name, v in kwargs["headers"]}
            letters.append(DeadLetter(key=kwargs["key"], value=value, headers=headers))
        return letters


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes
    headers: dict[str, str]  # without the ``ordertriage.dlq.`` prefix

    @property
    def code(self) -> str:
        return self.headers["reason_code"]


@pytest.fixture(autouse=True)
def outputs() -> Iterator[Outputs]:
    """Autouse, so no test can reach a real ``Topic.send``; request it to see the calls."""
    names = list(Outputs.__dataclass_fields__)
    mocks = {name: AsyncMock(name=f"{name}.send") for name in names}
    patches = [patch.object(getattr(ot.topics, name), "send", new=mocks[name]) for name in names]
    for p in patches:
        p.start()
    try:
        yield Outputs(**mocks)
    finally:
        for p in reversed(patches):
            p.stop()


@pytest.fixture(autouse=True)
def empty_tables() -> Iterator[None]:
    """Tables are module globals: every test starts (and leaves) them empty."""

    def clear() -> None:
        for table in ot.app.tables.values():
            table.data.clear()  # the memory store itself: no changelog, no event needed
        AGENTS.orders.timers.reset()  # as after a rebalance: what is kept beside the tables
        # Changelog records of table writes wait here for a producer that never starts.
        pending = ot.app.producer.buffer.pending
        while not pending.empty():
            pending.get_nowait()

    clear()
    yield
    clear()


@pytest.fixture(autouse=True)
def default_rules() -> Iterator[None]:
    """The shipped rule set, active and ready (no rules topic without a broker)."""
    from streams.classify.rules import RuleSet
    from streams.rules.rulebook import Published

    before = ot.rulebook.active
    ot.rulebook.active = Published(RuleSet.default())
    ot.rulebook.ready.set()
    AGENTS.feedback_intake.classifiers.book.ready.set()  # no models topic without a broker
    yield
    ot.rulebook.active = before


async def deliver(
    agent: AgentTestWrapperT,
    value: bytes,
    *,
    topic: str,
    key: bytes | None = None,
    partition: int = 0,
    timestamp: float | None = None,
    headers: list[tuple[str, bytes]] | None = None,
    offset: int | None = None,
) -> Message:
    """Put one record on the agent's test channel as if read from ``topic``; return its message
    once the agent has finished processing it.

    ``AgentTestWrapper.put`` names the message after the agent's channel, which fails for a
    multi-topic channel (``"<internal>"``), and it returns before a non-yielding agent has
    run; so this builds the message itself and waits for the stream to release the event.
    """
    # A given offset re-delivers a record already read there (a replay after a crash).
    offset = agent.sent_offset if offset is None else offset
    message = Message(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=timestamp if timestamp is not None else time.time(),
        timestamp_type=0,
        headers=headers,
        key=key,
        value=value,
        checksum=b"",
        generation_id=agent.app.consumer_generation_id,
    )
    channel = agent.stream().channel
    event = await channel.decode(message)
    done = PROCESSED.expect(event)
    crashed = asyncio.ensure_future(_crash_of(agent))
    await channel.put(event)
    agent.sent_offset += 1
    try:
        await asyncio.wait(
            {done, crashed}, timeout=PROCESSING_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        crashed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await crashed
        PROCESSED.forget(event)
    if not done.done():
        crash = agent._crash_reason
        raise AssertionError(
            f"agent {agent.name} did not finish {topic}@{offset}"
            + (f": it crashed with {crash!r}" if crash else f" within {PROCESSING_TIMEOUT}s")
        ) from crash
    return message


async def _crash_of(agent: AgentTestWrapperT) -> None:
    """Returns when the agent has crashed (the test wrapper notifies on every value too)."""
    condition = agent.new_value_processed
    async with condition:
        await condition.wait_for(lambda: agent._crash_reason is not None)
