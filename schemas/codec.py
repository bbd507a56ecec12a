"""Bytes <-> events. Decoding never raises anything but :class:`DecodeError`.

Faust would crash the agent (and ack the record) on an undecodable value, so input topics are
read as raw bytes and decoded here, where every failure becomes a reason code for the
dead-letter topic.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

MAX_ERRORS_IN_REASON = 5


class DecodeError(Exception):
    """A record that cannot become an event. ``code`` is a stable, low-cardinality reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def decode(model: type[M], data: bytes | None, *, max_bytes: int = 1_048_576) -> M:
    """Validate ``data`` as ``model``; JSON parsing happens inside pydantic-core (fast path)."""
    if not data:
        raise DecodeError("empty_value", "record value is empty or null")
    if len(data) > max_bytes:
        raise DecodeError("too_large", f"record value is {len(data)} bytes, limit {max_bytes}")
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise _classify(exc, data) from None
    except RecursionError:  # pragma: no cover - pydantic-core limits depth itself
        raise DecodeError("invalid_json", "JSON nested too deeply") from None


def _classify(exc: ValidationError, data: bytes) -> DecodeError:
    errors = exc.errors(include_url=False, include_input=False)
    if errors and errors[0]["type"] == "json_invalid":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as uexc:
            return DecodeError(
                "not_utf8", f"value is not UTF-8: {uexc.reason} at byte {uexc.start}"
            )
        return DecodeError("invalid_json", f"malformed JSON: {errors[0]['msg']}")
    if errors and errors[0]["type"] == "model_type" and not errors[0]["loc"]:
        return DecodeError("schema_violation", "value is JSON but not an object")
    parts = []
    for err in errors[:MAX_ERRORS_IN_REASON]:
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    more = len(errors) - MAX_ERRORS_IN_REASON
    suffix = f" (+{more} more)" if more > 0 else ""
    return DecodeError("schema_violation", "; ".join(parts) + suffix)


def unknown_fields(model: BaseModel, prefix: str = "") -> list[str]:
    """Dotted paths of fields the contract does not know (tolerated, but worth counting)."""
    found = [f"{prefix}{name}" for name in (model.model_extra or {})]
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found.extend(unknown_fields(value, f"{prefix}{name}."))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, BaseModel):
                    found.extend(unknown_fields(item, f"{prefix}{name}[]."))
    return sorted(set(found))


def encode(event: BaseModel) -> bytes:
    """Serialize an outbound event as compact JSON (decimals as strings)."""
    return event.model_dump_json().encode()
