"""The worker built from settings: replication and credentials reach Faust, nothing registered."""

from __future__ import annotations

import faust
import pytest

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


def test_a_dead_worker_is_noticed_after_the_session_timeout_not_faust_s_minute() -> None:
    conf = build(Settings(store="memory://")).app.conf
    assert conf.broker_session_timeout == 10.0 and conf.broker_heartbeat_interval == 3.0
    conf = build(Settings(store="memory://", session_timeout_seconds=6)).app.conf
    assert conf.broker_session_timeout == 6.0 and conf.broker_heartbeat_interval == 2.0
    # a broker refuses a session shorter than its group.min.session.timeout.ms (6 s)
    with pytest.raises(ValueError, match="session_timeout_seconds"):
        Settings(session_timeout_seconds=3)


def test_rocksdb_changelogs_are_read_as_bytes_and_written_with_the_table_codec() -> None:
    """RocksDB's recovery stores the changelog's bytes: decoding each record was wasted work."""
    from pathlib import Path

    from faust.types.tuples import Message

    from streams.records import OrderState

    raw = build(Settings(store="rocksdb://"))
    decoded = build(Settings(store="memory://"))
    value = (Path(__file__).parent / "state_fixtures" / "order_state.v4.json").read_bytes()
    state = OrderState.model_validate_json(value)
    for name, table in raw.app.tables.items():
        memory_topic = decoded.app.tables[name].changelog_topic
        topic = table.changelog_topic
        assert topic.acks is False and topic.internal and topic.config == memory_topic.config
        assert table.value_serializer == decoded.app.tables[name].value_serializer != "raw"
        message = Message(topic.get_topic_name(), 0, 1, 0.0, 0, [], b"k", value, None)
        assert topic.schema.loads_value(raw.app, message) == value, name
    orders = raw.tables.orders
    sent, _ = orders.changelog_topic.prepare_value(state, orders.value_serializer)
    assert OrderState.model_validate_json(sent) == state
    message = Message("t", 0, 1, 0.0, 0, [], b"k", value, None)
    assert decoded.tables.orders.changelog_topic.schema.loads_value(decoded.app, message) == state


def test_rocksdb_memory_per_table_partition_is_bounded_by_the_settings() -> None:
    """Faust's defaults were 3 x 64 MiB of memtables and a 2 GiB cache per database."""
    w = build(Settings(store="rocksdb://", rocksdb_write_buffer_mib=4, rocksdb_block_cache_mib=8))
    for table in w.app.tables.values():
        options = table.data.rocksdb_options
        assert (options.write_buffer_size, options.max_write_buffer_number) == (4 * 2**20, 2)
        assert options.block_cache_size == 8 * 2**20
    assert not build(Settings(store="memory://")).tables.orders.options
