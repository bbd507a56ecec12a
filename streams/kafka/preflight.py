"""The worker's start-up check: log in and read what it needs before Faust starts.

Faust and aiokafka report a refused login, a TLS mismatch or a missing ACL as "unable to
bootstrap" or a crash deep in a rebalance, over and over. Checked once before the app starts,
each becomes one message naming the principal, the resource and the fix, and an exit code of
its own (docs/security.md lists them).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    GroupCoordinatorNotAvailableError,
    KafkaConnectionError,
    KafkaError,
    NotCoordinatorForGroupError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from aiokafka.protocol.metadata import MetadataRequest

from streams.kafka import clients
from streams.settings import Settings

#: Exit codes (sysexits.h where one fits).
UNREACHABLE = 69  # EX_UNAVAILABLE: nothing answers at the bootstrap address
TLS_FAILED = 72  # the TLS handshake failed, or one side speaks TLS and the other does not
LOGIN_REFUSED = 77  # EX_NOPERM: SASL authentication failed
ACL_MISSING = 78  # logged in, but an ACL the worker needs is missing

TOPIC_AUTHORIZATION_FAILED = 29
log = logging.getLogger(__name__)


@dataclass
class PreflightError(Exception):
    code: int
    message: str

    def __str__(self) -> str:
        return self.message


def principal(settings: Settings) -> str:
    if settings.broker_sasl_mechanism:
        return f"User:{settings.broker_sasl_username}"
    if settings.broker_cert_file:
        return f"the subject of {settings.broker_cert_file}"
    return "User:ANONYMOUS"


async def _speaks_tls(bootstrap: str) -> bool:
    """Whether the first bootstrap server completes a TLS handshake (certificate unchecked)."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # a probe, sends nothing
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, int(port), ssl=context), 10
        )
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def login(settings: Settings) -> None:
    """Connect and authenticate once; a failure says what is wrong and how to fix it."""
    where, who = settings.bootstrap, principal(settings)
    try:
        await clients.probe(where)
    except SaslAuthenticationFailed as e:
        raise PreflightError(
            LOGIN_REFUSED,
            f"Kafka refused the login of {who} ({settings.broker_sasl_mechanism}) at {where}:"
            f" {e}. Fix: check ORDERTRIAGE_BROKER_SASL_USERNAME and the password in"
            " ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE against the broker's SCRAM credentials.",
        ) from None
    except ssl.SSLCertVerificationError as e:
        raise PreflightError(
            TLS_FAILED,
            f"TLS to {where} failed: the broker's certificate is not trusted ({e.verify_message})."
            f" Fix: set ORDERTRIAGE_BROKER_CA_FILE to the CA that signed it"
            f" (now {settings.broker_ca_file or 'the system CA bundle'}).",
        ) from None
    except ssl.SSLError as e:
        raise PreflightError(
            TLS_FAILED,
            f"TLS to {where} failed ({e.reason}): the port does not speak TLS, or refused this"
            " client's certificate. Fix: point KAFKA_BOOTSTRAP at the broker's TLS listener, or"
            " check ORDERTRIAGE_BROKER_CERT_FILE / ORDERTRIAGE_BROKER_KEY_FILE.",
        ) from None
    except KafkaConnectionError as e:
        if not settings.broker_tls and await _speaks_tls(where):
            raise PreflightError(
                TLS_FAILED,
                f"{where} speaks TLS but this worker connects in plaintext. Fix: set"
                " ORDERTRIAGE_BROKER_TLS=true, ORDERTRIAGE_BROKER_CA_FILE and, for SASL_SSL,"
                " ORDERTRIAGE_BROKER_SASL_* (docs/security.md).",
            ) from None
        if settings.broker_tls and not settings.broker_sasl_mechanism:
            raise PreflightError(
                LOGIN_REFUSED,
                f"{where} closed the connection after TLS: it probably wants SASL. Fix: set"
                " ORDERTRIAGE_BROKER_SASL_MECHANISM=SCRAM-SHA-512 and the user's credentials.",
            ) from None
        raise PreflightError(UNREACHABLE, f"cannot connect to Kafka at {where}: {e}") from None
    except OSError as e:
        raise PreflightError(
            UNREACHABLE,
            f"cannot connect to Kafka at {where}: {e}. Fix: check KAFKA_BOOTSTRAP / KAFKA_PORT.",
        ) from None


def _missing(who: str, op: str, kind: str, names: Iterable[str], app_id: str) -> PreflightError:
    listed = ", ".join(sorted(names))
    return PreflightError(
        ACL_MISSING,
        f"{who} is not authorized to {op} {kind} {listed}. Fix: `make acls` (the worker's"
        f" principal, app id {app_id!r}), or grant {who} {op.upper()} on that {kind}.",
    )


async def _group_offsets(
    admin: AIOKafkaAdminClient, group: str, who: str, wait_s: float = 30.0
) -> None:
    """Read the group's committed offsets: a refusal is a missing group ACL.

    A fresh cluster has no group coordinator until ``__consumer_offsets`` exists (its first
    group creates it): that is waited for, and after ``wait_s`` left to Faust, not reported.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            await admin.list_consumer_group_offsets(group)
            return
        except GroupAuthorizationFailedError:
            raise _missing(who, "read", "group", [group], group) from None
        except (GroupCoordinatorNotAvailableError, NotCoordinatorForGroupError):
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.5)


async def authorized(settings: Settings, reads: set[str], writes: set[str]) -> None:
    """Describe every topic, read the group's offsets and one fetch from each read topic."""
    who = principal(settings)
    admin = clients.admin(settings.bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        # Not describe_topics: its metadata request lets the broker auto-create what it names.
        request = MetadataRequest(sorted(reads | writes), allow_auto_topic_creation=False)
        described = (await admin._send_request(request)).to_object()["topics"]
        refused = {d["topic"] for d in described if d["error_code"] == TOPIC_AUTHORIZATION_FAILED}
        if refused:
            raise _missing(who, "describe", "topic", refused, settings.app_id)
        await _group_offsets(admin, settings.app_id, who)
        present = {d["topic"]: d["partitions"] for d in described if d["error_code"] == 0}
    finally:
        await admin.close()
    # Fetch needs Read: one fetch of each existing read topic's partition 0, no group.
    tps = [TopicPartition(name, 0) for name in sorted(reads) if present.get(name)]
    if not tps:
        return
    consumer = clients.consumer(settings.bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        await consumer.getmany(*tps, timeout_ms=1000)
    except TopicAuthorizationFailedError as e:
        topic = str(e.args[0]) if e.args else "?"
        raise _missing(who, "read", "topic", [topic], settings.app_id) from None
    except KafkaError as e:
        # Not a refusal (a just-created topic without a leader yet, a broker moving one): the
        # worker's own clients retry those, so the preflight does not stop it for them.
        log.info("preflight: read check of %s inconclusive (%r); starting anyway", tps, e)
    finally:
        await consumer.stop()


async def check(settings: Settings, reads: set[str], writes: set[str]) -> None:
    """Both checks, bounded: a broker that accepts and never answers is a failure too."""
    await asyncio.wait_for(login(settings), 60)
    await asyncio.wait_for(authorized(settings, reads, writes), 90)
