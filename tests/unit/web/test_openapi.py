"""The served OpenAPI document is valid and describes exactly the routes the worker serves."""

from __future__ import annotations

from openapi_spec_validator import validate

from streams import agents, web
from streams.app import build
from streams.settings import Settings
from streams.web.insight import SPEC


def test_the_description_is_valid_openapi() -> None:
    validate(SPEC)


def test_every_route_is_described_and_every_description_is_a_route() -> None:
    worker = build(Settings(app_id="openapi-test", store="memory://", api_token="t" * 32))
    agents.register(worker)
    web.register(worker)
    assert set(worker.app.web.views) == set(SPEC["paths"])


def test_classified_order_schema_comes_from_the_event_model() -> None:
    schema = SPEC["components"]["schemas"]["ClassifiedOrder"]
    assert "reasons" in schema["properties"] and schema["additionalProperties"] is False


def test_the_open_routes_are_the_probes_and_every_other_needs_a_token() -> None:
    from streams.web import OPEN_PATHS

    declared = {p: ops["get"].get("security", SPEC["security"]) for p, ops in SPEC["paths"].items()}
    assert SPEC["security"] == [{"apiToken": []}]
    assert {p for p, s in declared.items() if s == []} == OPEN_PATHS
    assert declared["/metrics"] == [{}, {"metricsToken": []}]
    for path in declared:
        if path not in OPEN_PATHS:
            assert "401" in SPEC["paths"][path]["get"]["responses"], path
