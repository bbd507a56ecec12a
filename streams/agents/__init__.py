"""Thin agents, one module per input stream; importing this package registers them."""

from streams.agents import created, customers, insight, orders, ticks
from streams.report import job as report_job

__all__ = ["created", "customers", "insight", "orders", "report_job", "ticks"]
