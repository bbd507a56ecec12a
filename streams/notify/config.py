"""The notifier's config file: roles -> people -> channels, credentials by reference.

A broken file must stop the service at start with the line to fix, not at 3 a.m. on the first
page, so validation errors are mapped back to YAML line numbers. Secrets (robot URLs carry
their access token, signing keys, SMTP passwords) are never written in the file: they are
``{env: NAME}`` or ``{file: path}`` references, resolved once at load into ``SecretStr``.
"""

from __future__ import annotations

import os
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from streams.classify.sla import Duration

Language = Literal["en", "zh"]


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and line."""


class SecretRef(BaseModel):
    """Where a credential lives: an environment variable or a file (e.g. a mounted secret)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret is {env: NAME} or {file: PATH}, exactly one of them")
        return self

    def resolve(self) -> SecretStr:
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ValueError(f"environment variable {self.env} is not set")
            return SecretStr(value)
        assert self.file is not None
        try:
            return SecretStr(self.file.read_text().strip())
        except OSError as exc:
            raise ValueError(f"cannot read secret file {self.file}: {exc.strerror}") from None


class _Channel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout: Duration = Field(default=timedelta(seconds=10), description="per HTTP call")
    rate_per_minute: int | None = Field(default=None, ge=1, description="None = platform's")


class DingTalk(_Channel):
    type: Literal["dingtalk"]
    url: SecretRef = Field(description="robot webhook URL (carries access_token)")
    secret: SecretRef | None = Field(default=None, description="the robot's SEC... signing key")


class Feishu(_Channel):
    type: Literal["feishu"]
    url: SecretRef
    secret: SecretRef | None = None


class WeCom(_Channel):
    type: Literal["wecom"]
    url: SecretRef = Field(description="robot webhook URL (carries key=...)")


class Slack(_Channel):
    type: Literal["slack"]
    url: SecretRef


class Webhook(_Channel):
    type: Literal["webhook"]
    url: SecretRef
    secret: SecretRef = Field(description="HMAC-SHA256 key of the X-Ordertriage-Signature")


class Email(_Channel):
    type: Literal["email"]
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: SecretRef | None = None
    sender: str
    #: CA bundle to verify the server with (a private CA); None = the system's.
    ca_file: Path | None = None


Channel = Annotated[
    DingTalk | Feishu | WeCom | Slack | Webhook | Email, Field(discriminator="type")
]
GROUP_TYPES = frozenset({"dingtalk", "feishu", "wecom", "slack", "webhook"})


class QuietHours(BaseModel):
    """Between ``start`` and ``end`` (local time) only ``high`` and ``critical`` go out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    end: time
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Route(BaseModel):
    """One of a person's channels; ``to`` is their address on a personal channel (e-mail)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: str
    to: str | None = None


class Person(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    language: Language | None = None
    quiet_hours: QuietHours | None = None
    channels: list[Route] = Field(default_factory=list)

    @field_validator("channels", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"channel": v} if isinstance(v, str) else v for v in value]
        return value


class Links(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(default="http://127.0.0.1:6070", description="public URL of /act")
    ttl: Duration = timedelta(hours=24)
    secret: SecretRef = Field(description="HMAC key of the ack/claim links")
    order_url: str | None = Field(
        default=None, description="link to the order in another system ({order_id})"
    )


class NotifyConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    language: Language = "en"
    links: Links
    channels: dict[str, Channel]
    people: dict[str, Person]
    roles: dict[str, list[str]]

    @model_validator(mode="after")
    def _references(self) -> NotifyConfig:
        for role, members in self.roles.items():
            for name in members:
                if name not in self.people:
                    raise ValueError(f"role {role!r} names {name!r}, who is not under people")
        for name, person in self.people.items():
            for route in person.channels:
                channel = self.channels.get(route.channel)
                if channel is None:
                    raise ValueError(f"person {name!r} uses unknown channel {route.channel!r}")
                if channel.type == "email" and not route.to:
                    raise ValueError(f"person {name!r}: e-mail channel needs `to`")
        return self


def load(path: Path) -> tuple[NotifyConfig, dict[str, SecretStr]]:
    """The config and its resolved secrets (keyed ``channel.field``, ``links.secret``)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        config = NotifyConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        line = _line(node, loc)
        where = ".".join(str(p) for p in loc) or "(top)"
        raise ConfigError(f"{path}:{line}: {where}: {first['msg']}") from None
    secrets: dict[str, SecretStr] = {}
    refs: list[tuple[tuple[str, ...], SecretRef]] = [(("links", "secret"), config.links.secret)]
    for name, channel in config.channels.items():
        for field in ("url", "secret", "password"):
            ref = getattr(channel, field, None)
            if isinstance(ref, SecretRef):
                refs.append((("channels", name, field), ref))
    for loc, ref in refs:
        try:
            secrets[".".join(loc[1:]) if loc[0] == "channels" else ".".join(loc)] = ref.resolve()
        except ValueError as exc:
            raise ConfigError(f"{path}:{_line(node, loc)}: {'.'.join(loc)}: {exc}") from None
    return config, secrets


def _line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """1-based line of the deepest node of ``loc`` that exists (pydantic adds union tags)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(part)), None)
            if found is None:
                continue  # a discriminator tag or a missing field: stay on the parent
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            continue
        line = node.start_mark.line + 1
    return line
