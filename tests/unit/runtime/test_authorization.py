"""streams.runtime.authorization: refused topics are listed while refused, then dropped."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import TopicAuthorizationFailedError

from streams.runtime import authorization
from streams.runtime.authorization import Authorization


def test_refused_then_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [100.0]
    monkeypatch.setattr(authorization.time, "monotonic", lambda: now[0])
    a = Authorization("User:w", clear_after=10)
    with caplog.at_level(logging.ERROR):
        a.refuse(["t.orders.created"], "fetch from topic")
        now[0] += 5
        a.refuse(["t.orders.created"], "fetch from topic")
    assert caplog.text.count("Kafka refused to fetch from topic t.orders.created for User:w") == 1
    assert a.current() == {"t.orders.created": 5.0}
    now[0] += 11  # no refusal for longer than clear_after: access is back
    assert a.current() == {}


def test_names_from_either_error_shape() -> None:
    assert authorization._names(TopicAuthorizationFailedError("a")) == ["a"]
    assert authorization._names(TopicAuthorizationFailedError({"b", "a"})) == ["a", "b"]
