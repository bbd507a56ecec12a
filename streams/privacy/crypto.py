"""Sealing with AES-256-GCM under keys derived from one master key (no I/O).

Every sealed value names its key (``ot1:<kind>:<key id>:<base64url(nonce + ciphertext)>``), so
the master key can rotate: a new master key gets a new id, values sealed under the old one stay
readable while the old key is kept in the keyring, and re-sealing moves them over.

Kinds: ``T`` transit (ingest -> customer stage, derived from the master key), ``C`` a
customer's data key (random, wrapped by the master key, deletable: crypto-shredding), ``D``
dead letters (derived). Subkeys come from HKDF-SHA256 with a distinct ``info`` each, so no key
is used for two purposes. The additional data binds a value to its customer and field: a
sealed e-mail copied into another customer's record does not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "ot1"
TRANSIT, CUSTOMER, DEADLETTER = "T", "C", "D"
KEY_BYTES = 32
NONCE_BYTES = 12
_BINARY = b"ot1D"
_KID_CHARS = 12


class SealError(ValueError):
    """A sealed value that cannot be opened: wrong key, erased key, or tampered bytes."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=64)
def derive(master: bytes, purpose: str) -> bytes:
    """A 256-bit subkey of ``master`` for one purpose (HKDF-SHA256, no salt: master is random).

    Cached: a handful of purposes per master key, derived on every sealed field otherwise.
    """
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose.encode())
    return hkdf.derive(master)


def key_id(master: bytes) -> str:
    """A short public name of a master key (not a hash of it: an HMAC under itself)."""
    return hmac.new(master, b"ordertriage key id", hashlib.sha256).hexdigest()[:_KID_CHARS]


def seal(
    key: bytes, kind: str, kid: str, plaintext: bytes, aad: bytes, context: bytes | None = None
) -> str:
    """Seal ``plaintext``; with a ``context`` (an event id) the nonce is synthetic.

    A synthetic nonce (an HMAC of context, additional data and plaintext under the key, as in
    SIV) makes a replay of the same event seal to the same bytes, so downstream records are
    byte-identical on replay; two different plaintexts never share a nonce.
    """
    if context is None:
        nonce = os.urandom(NONCE_BYTES)
    else:
        mac = hmac.new(key, b"nonce\x00" + context + b"\x00" + aad + b"\x00" + plaintext, "sha256")
        nonce = mac.digest()[:NONCE_BYTES]
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
    return f"{PREFIX}:{kind}:{kid}:{_b64(nonce + sealed)}"


def parse(value: str) -> tuple[str, str, bytes] | None:
    """``(kind, key id, nonce + ciphertext)`` of a sealed value; None if it is not one."""
    parts = value.split(":")
    if len(parts) != 4 or parts[0] != PREFIX:
        return None
    try:
        return parts[1], parts[2], _unb64(parts[3])
    except ValueError:
        return None


def is_sealed(value: str | None) -> bool:
    return value is not None and parse(value) is not None


def open_sealed(key: bytes, blob: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise SealError(
            "the value does not open with this key (erased, rotated or altered)"
        ) from None


@dataclass(frozen=True)
class Keyring:
    """The master key (and retired ones, for rotation) and what is derived from it."""

    master: bytes
    retired: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        for key in (self.master, *self.retired):
            if len(key) != KEY_BYTES:
                raise ValueError(f"a master key has {KEY_BYTES} bytes, got {len(key)}")

    @property
    def kid(self) -> str:
        return key_id(self.master)

    def _master(self, kid: str) -> bytes:
        for key in (self.master, *self.retired):
            if key_id(key) == kid:
                return key
        raise SealError(f"no master key with id {kid} in the keyring")

    # --- values sealed under a derived key (transit, dead letters) -------------------------
    def seal_derived(
        self, kind: str, plaintext: bytes, aad: bytes, context: bytes | None = None
    ) -> str:
        key = derive(self.master, f"ordertriage {kind} v1")
        return seal(key, kind, self.kid, plaintext, aad, context)

    def open_derived(self, value: str, aad: bytes) -> bytes:
        parsed = parse(value)
        if parsed is None or parsed[0] not in (TRANSIT, DEADLETTER):
            raise SealError("not a transit or dead-letter envelope")
        kind, kid, blob = parsed
        return open_sealed(derive(self._master(kid), f"ordertriage {kind} v1"), blob, aad)

    # --- dead letters: binary, so a record near the size limit grows by 44 bytes only ------
    def seal_bytes(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        key = derive(self.master, f"ordertriage {DEADLETTER} v1")
        return _BINARY + self.kid.encode() + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)

    def open_bytes(self, sealed: bytes, aad: bytes) -> bytes:
        if not sealed.startswith(_BINARY):
            raise SealError("not a sealed dead letter")
        head = len(_BINARY)
        kid = sealed[head : head + _KID_CHARS].decode("ascii", "replace")
        key = derive(self._master(kid), f"ordertriage {DEADLETTER} v1")
        return open_sealed(key, sealed[head + _KID_CHARS :], aad)

    # --- customers' data keys, wrapped by the master key -----------------------------------
    def wrap(self, data_key: bytes, customer_id: str) -> str:
        wrap_key = derive(self.master, "ordertriage wrap v1")
        return seal(wrap_key, "W", self.kid, data_key, customer_id.encode())

    def unwrap(self, wrapped: str, customer_id: str) -> bytes:
        parsed = parse(wrapped)
        if parsed is None or parsed[0] != "W":
            raise SealError("not a wrapped data key")
        _, kid, blob = parsed
        wrap_key = derive(self._master(kid), "ordertriage wrap v1")
        return open_sealed(wrap_key, blob, customer_id.encode())

    def pseudonym(self, value: str) -> str:
        """A stable join key for ``value`` that only holders of the master key can compute.

        A keyed HMAC, never a plain hash: phone numbers are few enough to enumerate.
        """
        key = derive(self.master, "ordertriage pseudonym v1")
        return "ps1:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def field_aad(customer_id: str, field: str) -> bytes:
    return f"{customer_id}\x00{field}".encode()
