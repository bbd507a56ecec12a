"""The secure local broker's generated secrets: a CA, the broker's certificate, SCRAM passwords.

Run by deploy/kafka/kafka.sh on the first start with ``KAFKA_SECURITY=sasl_ssl``; everything
goes into the broker's own secrets directory (mode 0700, files 0600), never into the
repository. Existing files are kept, so restarts keep their passwords and certificates.

    python deploy/kafka/credentials.py DIR USER [USER ...]

writes DIR/ca.pem (what clients trust), DIR/ca-key.pem, DIR/broker.pem (the broker's PKCS#8
key and certificate chain, Kafka's ``ssl.keystore.type=PEM``) and DIR/<user>.password.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The broker's own name: its principal on the mutual-TLS controller listener.
BROKER_CN = "ordertriage-broker"
VALID_DAYS = 825


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
) -> x509.Certificate:
    """A CA (``issuer`` None: self-signed) or a certificate for 127.0.0.1 and localhost."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0] if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(
            # The broker is also a TLS client: of its own controller listener.
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def ensure(directory: Path, users: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    if not (directory / "broker.pem").exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("ordertriage local CA", ca_key, None)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(BROKER_CN, key, (ca.subject, ca_key))
        pem = serialization.Encoding.PEM
        _write(directory / "ca-key.pem", _pem_key(ca_key))
        _write(directory / "ca.pem", ca.public_bytes(pem))
        _write(
            directory / "broker.pem", _pem_key(key) + cert.public_bytes(pem) + ca.public_bytes(pem)
        )
    for user in users:
        path = directory / f"{user}.password"
        if not path.exists():
            # Letters and digits only: the password goes into JAAS and --add-scram quoting.
            _write(path, secrets.token_hex(24).encode())


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ensure(Path(sys.argv[1]), sys.argv[2:])
