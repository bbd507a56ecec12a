"""Sealing, key wrapping, pseudonyms, the contact fields of an order, dead-letter replay."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from schemas.events import OrderCreated
from streams.privacy.contact import (
    CONTACT_FIELDS,
    CustomerKey,
    open_contact,
    reseal,
    seal_transit,
)
from streams.privacy.crypto import (
    CUSTOMER,
    TRANSIT,
    Keyring,
    SealError,
    field_aad,
    is_sealed,
    new_data_key,
    parse,
)
from streams.privacy.master import decode_key, load_keyring
from streams.privacy.replay import DLQ, SEALED_AAD, SEALED_HEADER, Replay, replay_of
from streams.settings import Settings
from tests.integration.events import created, dumps

RING = Keyring(b"\x01" * 32)


def order(notes: str | None = None) -> OrderCreated:
    body = created("SO-1", "C-1", "100.00", event_id="E-1")
    if notes is not None:
        body["order"]["notes"] = notes
    return OrderCreated.model_validate_json(dumps(body))


def test_a_derived_seal_opens_only_with_its_key_and_its_additional_data() -> None:
    sealed = RING.seal_derived(TRANSIT, b"wei.zhang@example.com", b"C-1\x00email")
    assert is_sealed(sealed) and b"wei" not in sealed.encode()
    assert RING.open_derived(sealed, b"C-1\x00email") == b"wei.zhang@example.com"
    with pytest.raises(SealError):
        RING.open_derived(sealed, b"C-2\x00email")  # copied into another customer's record
    with pytest.raises(SealError):
        Keyring(b"\x02" * 32).open_derived(sealed, b"C-1\x00email")  # another master key


def test_with_a_context_the_same_event_seals_to_the_same_bytes() -> None:
    a = RING.seal_derived(TRANSIT, b"x", b"aad", b"E-1")
    assert a == RING.seal_derived(TRANSIT, b"x", b"aad", b"E-1")
    assert a != RING.seal_derived(TRANSIT, b"y", b"aad", b"E-1")
    assert RING.seal_derived(TRANSIT, b"x", b"aad") != RING.seal_derived(TRANSIT, b"x", b"aad")


def test_a_retired_master_key_still_opens_what_it_sealed() -> None:
    old = Keyring(b"\x03" * 32)
    sealed = old.seal_derived(TRANSIT, b"secret", b"a")
    rotated = Keyring(b"\x04" * 32, retired=(old.master,))
    assert rotated.open_derived(sealed, b"a") == b"secret"
    assert parse(rotated.seal_derived(TRANSIT, b"s", b"a"))[1] == rotated.kid != old.kid  # type: ignore[index]


def test_data_keys_are_wrapped_for_one_customer() -> None:
    key = new_data_key()
    wrapped = RING.wrap(key, "C-1")
    assert key.hex() not in wrapped and RING.unwrap(wrapped, "C-1") == key
    with pytest.raises(SealError):
        RING.unwrap(wrapped, "C-2")


def test_pseudonyms_are_keyed_and_stable() -> None:
    assert RING.pseudonym("13800138000") == RING.pseudonym("13800138000")
    assert RING.pseudonym("13800138000") != Keyring(b"\x05" * 32).pseudonym("13800138000")
    assert "13800138000" not in RING.pseudonym("13800138000")


def test_contact_fields_move_from_transit_to_the_customers_key_and_die_with_it() -> None:
    original = order(notes="ring me on 138-0013-8000 or mail li@example.com")
    transit = seal_transit(original, RING)
    assert seal_transit(transit, RING) == transit  # sealed once: a replayed dead letter
    dumped = transit.model_dump_json()
    for field in CONTACT_FIELDS:
        clear = getattr(original.order.customer, field)
        assert clear not in dumped and parse(getattr(transit.order.customer, field))[0] == TRANSIT  # type: ignore[index]
    assert transit.order.model_extra == {"notes": "ring me on [phone] or mail [email]"}
    key = new_data_key()
    sealed = reseal(transit, RING, key, 3)
    assert reseal(transit, RING, key, 3) == sealed  # a replay forwards the same bytes
    assert parse(sealed.order.customer.email)[:2] == (CUSTOMER, "3")  # type: ignore[arg-type,index]
    assert open_contact(sealed.order.customer, key) == {
        f: getattr(original.order.customer, f) for f in CONTACT_FIELDS
    }
    with pytest.raises(SealError):  # erased: the key is gone, a new one opens nothing
        open_contact(sealed.order.customer, new_data_key())
    assert field_aad("C-1", "email") != field_aad("C-1", "phone")


def test_an_erased_key_is_a_marker_without_the_key() -> None:
    marker = CustomerKey(version=2, erased_offset=17)
    assert marker.wrapped is None and CustomerKey.model_validate_json(marker.model_dump_json())


def test_a_sealed_dead_letter_replays_to_its_source_topic() -> None:
    original = dumps(created("SO-1", "C-1", "100.00"))
    sealed = RING.seal_bytes(original, SEALED_AAD)
    assert b"Zhang" not in sealed and len(sealed) == len(original) + 44
    headers = [(DLQ + "source_topic", b"orders.created"), (SEALED_HEADER, b"ot1")]
    assert replay_of(b"SO-1", sealed, headers, RING) == Replay("orders.created", b"SO-1", original)
    # Written before sealing: the value is the original itself.
    assert replay_of(b"k", b"{}", headers[:1], RING) == Replay("orders.created", b"k", b"{}")
    truncated = [*headers, (DLQ + "value_truncated", b"2000000")]
    assert "truncated" in str(replay_of(b"k", sealed, truncated, RING))
    assert "source_topic" in str(replay_of(b"k", sealed, [], RING))
    with pytest.raises(SealError):
        replay_of(b"k", sealed, headers, Keyring(b"\x06" * 32))


def test_the_master_key_comes_from_the_secret_the_file_or_is_generated(tmp_path: Path) -> None:
    hex_key = "ab" * 32
    assert load_keyring(Settings(master_key=SecretStr(hex_key))).master == b"\xab" * 32
    file = tmp_path / "key"
    file.write_text("q" * 43 + "=\n")  # base64 of 32 bytes
    assert len(load_keyring(Settings(master_key_file=file)).master) == 32
    generated = tmp_path / "gen" / "master.key"
    first = load_keyring(Settings(master_key_generated_file=generated))
    assert stat.S_IMODE(os.stat(generated).st_mode) == 0o600
    assert load_keyring(Settings(master_key_generated_file=generated)) == first  # reused
    with pytest.raises(ValueError, match="32 bytes"):
        decode_key("abcd")
    assert "ab" * 32 not in repr(Settings(master_key=SecretStr(hex_key)))
