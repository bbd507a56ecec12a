"""schemas.codec: every undecodable record becomes a DecodeError with a stable code."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.codec import MAX_ERRORS_IN_REASON, DecodeError, decode, encode, unknown_fields
from schemas.events import ClassifiedOrder, OrderCreated, StatusChanged
from tests.unit.conftest import (
    CONTACT_EMAIL,
    CONTACT_NAME,
    CONTACT_PHONE,
    classify,
    created_payload,
    make_customer,
    make_order,
    status_payload,
)


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload)


def decode_error(model: type[Any], data: bytes | None, **kwargs: Any) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode(model, data, **kwargs)
    return info.value


def with_change(path: str, value: Any, *, delete: bool = False) -> dict[str, Any]:
    """A created payload with the dotted ``path`` (list indexes as numbers) set or deleted."""
    payload = copy.deepcopy(created_payload())
    *parents, last = path.split(".")
    node: Any = payload
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if delete:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return payload


def test_valid_payload_decodes() -> None:
    event = decode(OrderCreated, dumps(created_payload()))
    assert event.order.order_id == "SO-1"
    assert event.order.total_amount == Decimal("12800.00")
    assert decode(StatusChanged, dumps(status_payload())).to_status == "confirmed"


@pytest.mark.parametrize("data", [b"", None])
def test_empty_value(data: bytes | None) -> None:
    assert decode_error(OrderCreated, data).code == "empty_value"


def test_too_large_and_limit_is_inclusive() -> None:
    data = dumps(created_payload())
    assert decode_error(OrderCreated, data, max_bytes=len(data) - 1).code == "too_large"
    assert decode(OrderCreated, data, max_bytes=len(data)).event_id == "E-1"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"{", "invalid_json"),
        (b'{"event_id": "x",', "invalid_json"),
        (b"\xff\xfe{}", "not_utf8"),
        (b"[]", "schema_violation"),
        (b'"an order"', "schema_violation"),
        (b"42", "schema_violation"),
    ],
)
def test_malformed_values(data: bytes, code: str) -> None:
    assert decode_error(OrderCreated, data).code == code


@pytest.mark.parametrize(
    "path", ["event_id", "order", "order.customer.customer_id", "order.items", "order.currency"]
)
def test_missing_required_field_names_its_path(path: str) -> None:
    err = decode_error(OrderCreated, dumps(with_change(path, None, delete=True)))
    assert err.code == "schema_violation"
    assert f"{path}: Field required" in err.reason


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("order.total_amount", "lots"),
        ("order.total_amount", "-1"),
        ("order.total_amount", "NaN"),
        ("order.items.0.quantity", 0),
        ("order.items.0.quantity", 1.5),
        ("order.currency", "cny"),
        ("order.customer.type", "robot"),
        ("occurred_at", "2026-11-30T10:00:00"),
        ("order.items", []),
        ("schema_version", 2),
    ],
)
def test_wrong_types_are_schema_violations(path: str, value: Any) -> None:
    err = decode_error(OrderCreated, dumps(with_change(path, value)))
    assert err.code == "schema_violation"
    assert err.reason.startswith(f"{path}:")


def test_unknown_status_is_schema_violation() -> None:
    payload = {**status_payload(), "to_status": "teleported"}
    err = decode_error(StatusChanged, dumps(payload))
    assert err.code == "schema_violation"
    assert "to_status" in err.reason


def test_reason_is_capped_at_a_few_errors() -> None:
    payload = created_payload()
    payload["order"]["items"] = [{"sku": "x"}] * 10  # 3 errors per item
    err = decode_error(OrderCreated, dumps(payload))
    assert err.reason.count(": Field required") == MAX_ERRORS_IN_REASON
    assert err.reason.endswith("(+25 more)")


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deep_nesting_is_a_decode_error(depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    inside_extra = dumps(created_payload())[:-1] + b',"blob":' + nested + b"}"
    assert decode_error(OrderCreated, inside_extra).code
    assert decode_error(OrderCreated, nested).code


@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_decode_error(data: bytes) -> None:
    try:
        decode(StatusChanged, data)
    except DecodeError as err:
        assert err.code in {"empty_value", "invalid_json", "not_utf8", "schema_violation"}


def test_unknown_fields_are_kept_and_listed() -> None:
    payload = created_payload()
    payload["trace_id"] = "t-1"
    payload["order"]["coupon"] = "X"
    payload["order"]["customer"]["loyalty"] = {"level": 3}
    payload["order"]["items"][0]["color"] = "red"
    payload["order"]["items"][1]["color"] = "blue"
    event = decode(OrderCreated, dumps(payload))
    assert unknown_fields(event) == [
        "order.coupon",
        "order.customer.loyalty",
        "order.items[].color",
        "trace_id",
    ]
    assert event.model_extra == {"trace_id": "t-1"}
    assert unknown_fields(decode(OrderCreated, dumps(created_payload()))) == []


def test_money_stays_decimal() -> None:
    payload = created_payload()
    payload["order"]["total_amount"] = "0.30"
    payload["order"]["items"] = [
        {"sku": "A", "product_type": "x", "quantity": 1, "unit_price": "0.10"},
        {"sku": "B", "product_type": "x", "quantity": 1, "unit_price": "0.20"},
    ]
    order = decode(OrderCreated, dumps(payload)).order
    prices = [item.unit_price for item in order.items]
    assert all(type(p) is Decimal for p in prices)
    assert sum(prices, Decimal(0)) == Decimal("0.30") == order.total_amount
    # A JSON number is read as its decimal text, not through a binary float.
    as_number = decode(OrderCreated, dumps(with_change("order.total_amount", 0.1)))
    assert as_number.order.total_amount == Decimal("0.1")


def test_encode_has_no_contact_data_and_round_trips() -> None:
    order = make_order(total="12800.00", customer=make_customer(vip=True))
    record = classify(order)
    data = encode(record)
    for secret in (CONTACT_NAME, CONTACT_EMAIL, CONTACT_PHONE):
        assert secret.encode() not in data
    for key in (b'"name"', b'"email"', b'"phone"'):
        assert key not in data
    assert b'"total_amount":"12800.00"' in data
    assert ClassifiedOrder.model_validate_json(data) == record
