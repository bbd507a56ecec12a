"""The secure local broker's configuration and generated secrets, checked offline."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import re
import ssl
import stat
from pathlib import Path

from streams.kafka.acls import Principals

ROOT = Path(__file__).parents[3]
KAFKA = ROOT / "deploy" / "kafka"


def secure_properties() -> dict[str, str]:
    props = {}
    for line in (KAFKA / "secure.properties").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            props[key] = value
    return props


def test_nothing_is_allowed_that_no_acl_allows() -> None:
    p = secure_properties()
    assert p["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert p["allow.everyone.if.no.acl.found"] == "false"
    assert p["auto.create.topics.enable"] == "false"
    assert set(p["super.users"].split(";")) == {"User:admin", "User:CN=ordertriage-broker"}


def test_clients_get_scram_over_tls_only() -> None:
    p = secure_properties()
    assert p["listeners"].startswith("SASL_SSL://127.0.0.1:")
    assert "PLAINTEXT" not in p["listener.security.protocol.map"]
    assert p["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert p["listener.name.controller.ssl.client.auth"] == "required"
    assert (p["ssl.keystore.type"], p["ssl.truststore.type"]) == ("PEM", "PEM")


def test_every_principal_of_make_acls_has_a_scram_user() -> None:
    script = (KAFKA / "kafka.sh").read_text()
    match = re.search(r"^SCRAM_USERS=\((.*)\)$", script, re.M)
    assert match is not None
    users = set(match.group(1).split())
    principals = {getattr(Principals(), f.name) for f in dataclasses.fields(Principals)}
    assert principals | {"admin"} <= users


def test_generated_secrets_are_private_and_the_certificate_chains(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("credentials", KAFKA / "credentials.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    secrets = tmp_path / "secrets"
    module.ensure(secrets, ["admin", "ordertriage-worker"])
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    for path in secrets.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    password = (secrets / "admin.password").read_text()
    assert re.fullmatch(r"[0-9a-f]{48}", password)
    assert (secrets / "broker.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    # A server with that certificate passes a client's check against the CA, for 127.0.0.1.
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(secrets / "broker.pem")
    client = ssl.create_default_context(cafile=str(secrets / "ca.pem"))
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname="127.0.0.1")
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side, out, into in ((c, c_out, s_in), (s, s_out, c_in)):
            with contextlib.suppress(ssl.SSLWantReadError):  # waits for the other side's bytes
                side.do_handshake()
            into.write(out.read())
    assert c.version() is not None  # the handshake completed, certificate and name verified
    module.ensure(secrets, ["admin"])  # a second start keeps what exists
    assert (secrets / "admin.password").read_text() == password
