"""``ordertriage top``'s summary without Kafka: empty start, mix, and a rate that decays."""

from __future__ import annotations

import orjson
from rich.console import Console

from streams.tools.top import RATE_WINDOW_SECONDS, Top


def text(top: Top, now: float | None) -> str:
    console = Console(width=160, record=True)
    console.print(top.render(now))
    return console.export_text()


def test_renders_before_anything_arrived() -> None:
    assert "orders 0 | orders/s 0.0" in text(Top(), now=100.0)


def test_rate_counts_the_last_seconds_only() -> None:
    top = Top()
    created = orjson.dumps({"cause": "order-created", "value_tier": "high", "priority": "P2"})
    for ms in (1000, 1500, 2000, 2500):
        top.add("orders.classified", ms, created, [])
    assert top.rate(now=3.0) == 4 / RATE_WINDOW_SECONDS
    assert top.rate(now=2.2 + RATE_WINDOW_SECONDS) == 1 / RATE_WINDOW_SECONDS  # only 2.5 s left
    assert "high  4  100%" in text(top, now=None)


def test_counts_peoples_corrections_per_dimension() -> None:
    top = Top()
    fix = {"cause": "corrected", "correction": {"dimension": "priority"}, "priority": "P1"}
    for _ in range(2):
        top.add("orders.classified", 1000, orjson.dumps(fix), [])
    assert top.orders == 0 and top.corrected == {"priority": 2}
    assert "corrections 2" in text(top, now=None)
