"""Thin agents, one module per input stream; importing this package registers them."""

from streams.agents import created, customers, orders, ticks
from streams.report import job as report_job

__all__ = ["created", "customers", "orders", "report_job", "ticks"]
