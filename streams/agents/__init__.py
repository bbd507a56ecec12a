"""Thin agents, one module per input stream; importing this package registers them."""

from streams.agents import created, customers, orders, ticks

__all__ = ["created", "customers", "orders", "ticks"]
