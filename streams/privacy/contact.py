"""The customer's contact fields of a created order, sealed in place (no I/O).

Fields keep their names and types (a sealed value is a string), so every downstream model
and codec reads them unchanged and no stage needs the clear values: nothing downstream uses
them. Unknown extra fields of the customer are dropped: they may be contact data too.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from schemas.events import Customer, OrderCreated
from streams.classify.masking import mask_text
from streams.privacy.crypto import (
    CUSTOMER,
    TRANSIT,
    Keyring,
    field_aad,
    is_sealed,
    open_sealed,
    parse,
    seal,
)

CONTACT_FIELDS = ("name", "email", "phone")


class CustomerKey(BaseModel):
    """A customer's data key, wrapped by the master key (the ``customer-keys`` table).

    Erasure deletes the key (``wrapped`` None): every value sealed under it stops opening.
    What stays is this marker, with no personal data: the offset of the erasure, so a replay
    of the customer's earlier records never makes a new key for them (or counts them again),
    and the version, so a later order of the same id gets a new key, not the old one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = 1
    wrapped: str | None = None
    erased_offset: int | None = None


def _masked_extras(model: BaseModel) -> dict[str, object]:
    """Unknown string fields (an upstream's ``notes``) with phones and e-mails masked."""
    return {
        k: mask_text(v) if isinstance(v, str) else v for k, v in (model.model_extra or {}).items()
    }


def _with_customer(created: OrderCreated, customer: Customer) -> OrderCreated:
    order = created.order.model_copy(update={"customer": customer, **_masked_extras(created.order)})
    return created.model_copy(update={"order": order, **_masked_extras(created)})


def _map_contact(created: OrderCreated, transform: Callable[[str, str], str]) -> OrderCreated:
    customer = created.order.customer
    fields = {f: getattr(customer, f) for f in CONTACT_FIELDS}
    sealed = {f: transform(f, v) if v is not None else None for f, v in fields.items()}
    kept = customer.model_dump(include={"customer_id", "type", "vip"})
    return _with_customer(created, Customer.model_validate({**kept, **sealed}))


def seal_transit(created: OrderCreated, ring: Keyring) -> OrderCreated:
    """At ingest: the contact fields under the transit key (the data key is not reachable)."""
    cid, context = created.order.customer.customer_id, created.event_id.encode()

    def transit(field: str, value: str) -> str:
        if is_sealed(value):  # a replayed dead letter of a later stage: sealed already
            return value
        return ring.seal_derived(TRANSIT, value.encode(), field_aad(cid, field), context)

    return _map_contact(created, transit)


def reseal(created: OrderCreated, ring: Keyring, data_key: bytes, version: int) -> OrderCreated:
    """At the customer stage: from the transit key to the customer's own data key."""
    cid, context = created.order.customer.customer_id, created.event_id.encode()

    def move(field: str, value: str) -> str:
        aad, parsed = field_aad(cid, field), parse(value)
        if parsed is not None and parsed[0] == CUSTOMER:
            return value  # already under a data key (a replay)
        plain = ring.open_derived(value, aad) if parsed is not None else value.encode()
        return seal(data_key, CUSTOMER, str(version), plain, aad, context)

    return _map_contact(created, move)


def open_contact(customer: Customer, data_key: bytes) -> dict[str, str | None]:
    """The clear contact fields of a customer record sealed under ``data_key``."""
    opened: dict[str, str | None] = {}
    for field in CONTACT_FIELDS:
        value = getattr(customer, field)
        parsed = parse(value) if value is not None else None
        if parsed is None:
            opened[field] = value
            continue
        opened[field] = open_sealed(
            data_key, parsed[2], field_aad(customer.customer_id, field)
        ).decode()
    return opened
