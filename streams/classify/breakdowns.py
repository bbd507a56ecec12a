"""The dimensions orders are counted by, declared once for windows, queries, reports and views.

A dimension is named as the HTTP queries, the analytics windows and the report name it, and
read from one field of ``ClassifiedOrder``. Each consumer takes the subset it shows.
"""

from __future__ import annotations

from schemas.events import ClassifiedOrder

#: Dimension -> the ``ClassifiedOrder`` field it is read from.
DIMENSIONS: dict[str, str] = {
    "product_type": "primary_product_type",
    "customer_type": "customer_type",
    "customer_segment": "customer_segment",
    "value_tier": "value_tier",
    "priority": "priority",
    "region": "region",
    "channel": "channel",
    "status": "status",
    "status_category": "status_category",
}
#: A status change counts only here (orders entering a status); a created order everywhere.
STATUS_CHANGE = ("status", "status_category")
#: What the published analytics windows break down, for a created order and a status change.
WINDOWS = ("product_type", "customer_segment", "value_tier", "status_category", "priority")
WINDOWS_ON_STATUS_CHANGE = ("status_category",)
#: The scheduled report's tables and CSV.
REPORT = (
    "product_type",
    "customer_segment",
    "value_tier",
    "priority",
    "customer_type",
    "channel",
    "region",
)
#: The live mix of ``make demo`` and ``ordertriage top`` (the first two in ``top``).
LIVE_MIX = ("value_tier", "priority", "customer_segment", "product_type", "status")


def value(record: ClassifiedOrder, dimension: str) -> str:
    return str(getattr(record, DIMENSIONS[dimension]))
