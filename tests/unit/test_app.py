"""The worker built from settings: replication and credentials reach Faust, nothing registered."""

from __future__ import annotations

import faust

from streams.app import build, credentials
from streams.settings import Settings


def test_replication_settings_reach_every_topic_and_changelog() -> None:
    w = build(Settings(store="memory://", topic_replication_factor=3, topic_min_insync_replicas=2))
    assert w.app.conf.producer_acks == -1 and w.app.conf.topic_replication_factor == 3
    for topic in [
        w.topics.created,
        w.topics.order_stream,
        w.topics.insight_stream,
        *w.topics.outputs,
    ]:
        assert topic.config == {"min.insync.replicas": "2"}, topic
    for table in w.app.tables.values():
        # With the compaction bounds of the personal-data part (an erased value's deadline).
        assert table.changelog_topic.config == {
            "min.insync.replicas": "2",
            "segment.ms": "21600000",
            "max.compaction.lag.ms": "86400000",
            "delete.retention.ms": "86400000",
        }, table.name
    assert not w.app.agents  # building registers nothing: streams.agents.register does


def test_broker_credentials_follow_the_settings() -> None:
    sasl = credentials(
        Settings(
            broker_sasl_mechanism="SCRAM-SHA-512",
            broker_sasl_username="ot",
            broker_sasl_password="pw",
            broker_tls=True,
        )
    )
    assert "pw" not in repr(sasl)
    assert isinstance(sasl, faust.SASLCredentials) and sasl.ssl_context is not None
    assert isinstance(credentials(Settings(broker_tls=True)), faust.SSLCredentials)
    assert credentials(Settings()) is None  # plaintext, as the local broker
