"""The master key: from the settings, from a file, or generated once for the demo."""

from __future__ import annotations

import base64
import binascii
import logging
import os
from pathlib import Path

from streams.privacy.crypto import KEY_BYTES, Keyring
from streams.settings import Settings

log = logging.getLogger("ordertriage")


def decode_key(text: str) -> bytes:
    """32 bytes written as 64 hex digits or base64 (what ``openssl rand`` prints)."""
    text = text.strip()
    try:
        key = bytes.fromhex(text) if len(text) == 2 * KEY_BYTES else base64.b64decode(text)
    except (ValueError, binascii.Error):
        raise ValueError("the master key is neither hex nor base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"the master key must be {KEY_BYTES} bytes, got {len(key)}")
    return key


def _generate(path: Path) -> bytes:
    key = os.urandom(KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two workers starting at once on one checkout do not overwrite each other's key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key.hex() + "\n")
    log.warning(
        "no master key configured: generated one in %s (0600). Production must set"
        " ORDERTRIAGE_MASTER_KEY_FILE; losing this file makes sealed data unreadable.",
        path,
    )
    return key


def load_keyring(settings: Settings) -> Keyring:
    """The keyring of the master key: the secret, else its file, else the generated file."""
    secret = settings.master_key.get_secret_value()
    if secret:
        return Keyring(decode_key(secret))
    if settings.master_key_file is not None:
        return Keyring(decode_key(settings.master_key_file.read_text()))
    path = settings.master_key_generated_file
    try:
        return Keyring(_generate(path))
    except FileExistsError:
        return Keyring(decode_key(path.read_text()))
