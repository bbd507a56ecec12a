"""Create the topics a worker subscribes to before its consumer joins the group.

Faust declares its topics while the consumer subscribes. When the group leader computes the
assignment before a just-created topic is in its metadata, Faust's assignor skips it
("Ignoring missing topic") and aiokafka's client, whose own metadata already lists the topic,
sees no change that would trigger a new assignment: the topic stays unassigned until some
later rebalance (seen as two fresh workers consuming nothing from ``orders-by-customer``).
Creating every subscribed topic first, and waiting until the broker lists them, removes the
race.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.kafka import clients
from streams.settings import get_settings


async def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    *,
    partitions: int,
    replication: int,
    configs: Mapping[str, str] | None = None,
    wait_s: float = 30.0,
) -> None:
    """Create the missing ones of ``names``; return once the broker describes all of them.

    Created topics get the settings' replication configs (``min.insync.replicas`` when
    ``topic_min_insync_replicas`` > 1), overridden by ``configs``. Topics that exist are left as
    they are (Kafka does not change a topic's replication factor on its own).
    """
    wanted = sorted(set(names))
    topic_configs = {**get_settings().replication_topic_config, **(configs or {})}
    admin = clients.admin(bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in wanted if n not in existing]
        for name in missing:
            topic = NewTopic(name, partitions, replication, topic_configs=dict(topic_configs))
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was quicker
                await admin.create_topics([topic])
        deadline = time.monotonic() + wait_s
        while True:
            described = await admin.describe_topics(wanted)
            ready = [d for d in described if d.get("error_code") == 0 and d.get("partitions")]
            if len(ready) == len(wanted):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics not ready after {wait_s:g}s: {wanted}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
