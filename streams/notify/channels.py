"""Sending one message to one channel, with bounded retries: the only network code per platform.

Retries: ``attempts`` tries with exponential backoff from ``backoff`` seconds (capped at 30 s),
longer when the platform says ``Retry-After``. A 4xx or a non-rate error code is final at once
(trying again cannot help); 429, 5xx, rate-limit codes, timeouts and refused connections retry.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass

import aiohttp
import aiosmtplib
import orjson
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt

from streams.notify import payloads
from streams.notify.config import Channel, Email
from streams.notify.messages import Message
from streams.notify.payloads import Answer

MAX_WAIT_S = 30.0


@dataclass(frozen=True)
class Outcome:
    answer: Answer
    attempts: int
    #: Wall-clock time the first HTTP (or SMTP) call started: the latency's end point.
    called_at: float


class Sender:
    def __init__(
        self,
        name: str,
        channel: Channel,
        secrets: dict[str, SecretStr],
        session: aiohttp.ClientSession,
        *,
        attempts: int,
        backoff: float,
    ) -> None:
        self.name, self.channel, self.session = name, channel, session
        self.attempts, self.backoff = attempts, backoff
        self._url = secrets.get(f"{name}.url")
        self._secret = secrets.get(f"{name}.secret")
        self._password = secrets.get(f"{name}.password")

    @property
    def idempotent(self) -> bool:
        """The receiver can tell a re-send (Message-ID, Idempotency-Key): safe when in doubt."""
        return self.channel.type in ("email", "webhook")

    async def send(self, message: Message, delivery_id: str, to: str) -> Outcome:
        calls: list[float] = []

        def wait(state: RetryCallState) -> float:
            exp = min(MAX_WAIT_S, self.backoff * 2 ** (state.attempt_number - 1))
            answer = state.outcome.result() if state.outcome is not None else None
            told = answer.retry_after if isinstance(answer, Answer) else None
            return float(min(MAX_WAIT_S, max(exp, told or 0.0)))

        async def once() -> Answer:
            calls.append(time.time())
            return await self._once(message, delivery_id, to)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait,
            retry=retry_if_result(lambda a: not a.ok and a.retryable),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        answer: Answer = await retrying(once)
        return Outcome(answer, len(calls), calls[0])

    async def _once(self, message: Message, delivery_id: str, to: str) -> Answer:
        try:
            if isinstance(self.channel, Email):
                return await self._mail(self.channel, message, delivery_id, to)
            return await self._post(message, delivery_id)
        except TimeoutError:
            return Answer(False, True, f"timeout after {self.channel.timeout.total_seconds():g}s")
        except aiohttp.ClientError as exc:
            return Answer(False, True, f"connection: {type(exc).__name__}")

    async def _post(self, message: Message, delivery_id: str) -> Answer:
        assert self._url is not None
        url, secret = self._url.get_secret_value(), self._secret
        key = secret.get_secret_value() if secret is not None else None
        kind = self.channel.type
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if kind == "dingtalk":
            url = payloads.dingtalk_url(url, key, int(time.time() * 1000))
            body = _json(payloads.dingtalk(message))
        elif kind == "feishu":
            body = _json(payloads.feishu(message, key, int(time.time())))
        elif kind == "wecom":
            body = _json(payloads.wecom(message))
        elif kind == "slack":
            body = _json(payloads.slack(message))
        else:
            assert key is not None
            body = payloads.webhook(message, delivery_id)
            ts = int(time.time())
            headers |= {
                "Idempotency-Key": delivery_id,
                "X-Ordertriage-Timestamp": str(ts),
                "X-Ordertriage-Signature": payloads.webhook_signature(key, ts, body),
            }
        timeout = aiohttp.ClientTimeout(total=self.channel.timeout.total_seconds())
        async with self.session.post(url, data=body, headers=headers, timeout=timeout) as resp:
            raw = await resp.read()
            return payloads.answer(kind, resp.status, raw, resp.headers.get("Retry-After"))

    async def _mail(self, channel: Email, message: Message, delivery_id: str, to: str) -> Answer:
        mail = payloads.email(message, channel.sender, to, delivery_id)
        context = ssl.create_default_context(
            cafile=str(channel.ca_file) if channel.ca_file else None
        )
        try:
            await aiosmtplib.send(
                mail,
                hostname=channel.host,
                port=channel.port,
                start_tls=channel.starttls,
                tls_context=context,
                username=channel.username,
                password=self._password.get_secret_value() if self._password else None,
                timeout=channel.timeout.total_seconds(),
            )
        except aiosmtplib.SMTPResponseException as exc:
            # 4xx: try later; 5xx: the server refuses this mail for good.
            return Answer(False, 400 <= exc.code < 500, f"SMTP {exc.code}: {exc.message}")
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            return Answer(False, True, f"SMTP: {type(exc).__name__}: {exc}")
        return Answer(True, False, "SMTP 250")


def _json(value: object) -> bytes:
    return orjson.dumps(value)
