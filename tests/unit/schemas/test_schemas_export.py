"""The committed JSON Schema files are exactly what the pydantic models export."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from schemas.export import EXPORTS, INBOUND, OUT_DIR, rendered
from streams.tools.sample import SampleStream
from streams.topics import CREATED, STATUS_CHANGED


def nested_models(model: type[BaseModel]) -> set[type[BaseModel]]:
    """``model`` and every model reachable through its fields (lists included)."""
    found = {model}
    for field in model.model_fields.values():
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        for candidate in candidates:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found |= nested_models(candidate)
    return found


def schema_of(name: str) -> dict[str, Any]:
    return json.loads((OUT_DIR / name).read_text())


def definition(schema: dict[str, Any], model: type[BaseModel], root: type[BaseModel]) -> Any:
    return schema if model is root else schema["$defs"][model.__name__]


def test_exported_files_are_fresh() -> None:
    on_disk = {p.name for p in OUT_DIR.glob("*.json")}
    assert on_disk == set(EXPORTS), "schemas/json/ is stale: run `make schemas`"
    for name, text in rendered().items():
        assert (OUT_DIR / name).read_text() == text, f"{name} is stale: run `make schemas`"


@pytest.mark.parametrize(("name", "root"), EXPORTS.items())
def test_required_and_properties_match_the_models(name: str, root: type[BaseModel]) -> None:
    schema = schema_of(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for model in nested_models(root):
        node = definition(schema, model, root)
        # On the wire a field is named by its alias when it has one (``from``, ``to``).
        names = {n: f.alias or n for n, f in model.model_fields.items()}
        required = {names[n] for n, f in model.model_fields.items() if f.is_required()}
        assert set(node.get("required", [])) == required, model.__name__
        assert set(node["properties"]) == set(names.values()), model.__name__
        inbound = root in INBOUND
        assert node.get("additionalProperties", True) is inbound, model.__name__


def test_sample_payloads_fit_the_exported_schemas() -> None:
    created = schema_of("orders.created.schema.json")
    changed = schema_of("orders.status-changed.schema.json")
    stream = SampleStream(count=40, seed=3, bad_share=0, start=datetime(2026, 1, 1, tzinfo=UTC))
    seen = set()
    for topic, _, value in stream:
        payload = orjson.loads(value)
        seen.add(topic)
        if topic == CREATED:
            order = payload["order"]
            objects = [
                (created, payload),
                (created["$defs"]["Order"], order),
                (created["$defs"]["Customer"], order["customer"]),
                *((created["$defs"]["Item"], item) for item in order["items"]),
            ]
        else:
            assert topic == STATUS_CHANGED
            objects = [(changed, payload)]
        for node, obj in objects:
            assert set(node["required"]) <= set(obj)
            assert set(obj) <= set(node["properties"])
    assert seen == {CREATED, STATUS_CHANGED}
