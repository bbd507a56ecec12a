"""Export the JSON Schema of every event to ``schemas/json/`` (``python -m schemas.export``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.events import (
    AnalyticsWindow,
    ClassifiedOrder,
    CustomerErased,
    DeliveryDeadLetter,
    FeedbackClassified,
    FeedbackCorrection,
    FeedbackModelPublished,
    FeedbackReceived,
    FeedbackStatusChanged,
    FollowupDone,
    FollowupTask,
    Notification,
    OrderAction,
    OrderCorrection,
    OrderCreated,
    ReportPublished,
    RulesPublished,
    SegmentChanged,
    StatusChanged,
)

OUT_DIR = Path(__file__).parent / "json"

#: file name -> model; one file per topic's value.
EXPORTS: dict[str, type[BaseModel]] = {
    "orders.created.schema.json": OrderCreated,
    "orders.status-changed.schema.json": StatusChanged,
    "orders.corrections.schema.json": OrderCorrection,
    "orders.classified.schema.json": ClassifiedOrder,
    "orders.notifications.schema.json": Notification,
    "orders.analytics.schema.json": AnalyticsWindow,
    "ordertriage.rules.schema.json": RulesPublished,
    "ordertriage.feedback-models.schema.json": FeedbackModelPublished,
    "orders.reports.schema.json": ReportPublished,
    "feedback.received.schema.json": FeedbackReceived,
    "feedback.status-changed.schema.json": FeedbackStatusChanged,
    "feedback.corrections.schema.json": FeedbackCorrection,
    "feedback.classified.schema.json": FeedbackClassified,
    "orders.actions.schema.json": OrderAction,
    "orders.notify-deadletters.schema.json": DeliveryDeadLetter,
    "customers.segments.schema.json": SegmentChanged,
    "customers.followups.schema.json": FollowupTask,
    "customers.followup-done.schema.json": FollowupDone,
    "customers.erasures.schema.json": CustomerErased,
}
#: Inbound events: validation-mode schemas that allow unknown fields.
INBOUND: tuple[type[BaseModel], ...] = (
    OrderCreated,
    StatusChanged,
    OrderCorrection,
    FeedbackReceived,
    FeedbackStatusChanged,
    FeedbackCorrection,
    FollowupDone,
)


def render(model: type[BaseModel], mode: str) -> str:
    schema = model.model_json_schema(mode="validation" if mode == "in" else "serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    out = {}
    for name, model in EXPORTS.items():
        mode = "in" if model in INBOUND else "out"
        out[name] = render(model, mode)
    return out


def main() -> int:
    OUT_DIR.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (OUT_DIR / name).write_text(text)
        print(f"wrote {OUT_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
