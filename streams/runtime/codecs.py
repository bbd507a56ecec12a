"""Pydantic models as Faust's wire format: one codec per stored or internal model."""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs
from pydantic import BaseModel

from streams.classify.analytics import WindowState
from streams.classify.care import CareState
from streams.classify.customers import CustomerStats
from streams.classify.feedback_desk import TeamLoad
from streams.classify.insight import Bucket, CustomerSeen, OrderIndex
from streams.classify.staff import PersonKpis, TeamKpis
from streams.privacy.contact import CustomerKey
from streams.records import (
    CareInput,
    CountedOrder,
    EnrichedOrder,
    FeedbackCase,
    FeedbackState,
    FeedbackUpdate,
    OrderState,
    ParkedStatuses,
    StaffEvent,
    Tick,
)


class PydanticCodec(codecs.Codec):
    """Serialize any model with ``model_dump_json``; deserialize into ``model`` when given."""

    def __init__(self, model: type[BaseModel] | None = None, **kwargs: Any) -> None:
        self.model = model
        super().__init__(**kwargs)

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, BaseModel):
            return obj.model_dump_json().encode()
        raise TypeError(f"expected a pydantic model, got {type(obj).__name__}")

    def _loads(self, s: bytes) -> Any:
        if self.model is None:
            raise TypeError("this codec only serializes; decode inputs with schemas.codec")
        return self.model.model_validate_json(s)


CODECS: dict[str, type[BaseModel] | None] = {
    "pydantic": None,
    "enriched_order": EnrichedOrder,
    "order_state": OrderState,
    "customer_stats": CustomerStats,
    "customer_key": CustomerKey,
    "parked_statuses": ParkedStatuses,
    "counted_order": CountedOrder,
    "window_state": WindowState,
    "tick": Tick,
    "insight_bucket": Bucket,
    "order_index": OrderIndex,
    "customer_seen": CustomerSeen,
    "feedback_case": FeedbackCase,
    "feedback_update": FeedbackUpdate,
    "feedback_state": FeedbackState,
    "team_load": TeamLoad,
    "staff_event": StaffEvent,
    "staff_person": PersonKpis,
    "staff_team": TeamKpis,
    "care_input": CareInput,
    "care_state": CareState,
}


def register() -> None:
    for name, model in CODECS.items():
        codecs.register(name, PydanticCodec(model))
