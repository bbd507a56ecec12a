"""Bearer tokens of the HTTP APIs: where each token comes from, the check, the header to send.

One aiohttp middleware guards every route of a server except those it is told are open, so a
view added later is locked without anyone remembering to. The worker and the notifier install
it; the CLI, the tools and the tests read the token the same way and send it. Tokens never
reach a log: only the path of a token file does.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from streams.settings import Settings

log = logging.getLogger("ordertriage.apiauth")

REALM = 'Bearer realm="ordertriage"'
MIN_LENGTH = 16
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


class TokenError(Exception):
    """A token that cannot be used: missing, too short, or in a file others may read."""


def _read(path: Path, *, own: bool) -> str:
    """The token in ``path``; ``own``: a generated file must be ours and 0600 (no group bit).

    A configured file may be group-readable (a Kubernetes Secret with ``fsGroup`` is 0440),
    never world-readable.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise TokenError(f"token file {path} does not exist") from None
    if st.st_mode & (0o077 if own else 0o007):
        raise TokenError(
            f"token file {path} may be read by other users (mode {st.st_mode & 0o777:o});"
            f" `chmod 600 {path}` (or 0640 with a group) and restart"
        )
    if own and st.st_uid != os.getuid():
        raise TokenError(f"token file {path} belongs to another user (uid {st.st_uid})")
    token = path.read_text().strip()
    if len(token) < MIN_LENGTH:
        raise TokenError(f"token file {path} holds fewer than {MIN_LENGTH} characters")
    return token


def create_token_file(path: Path) -> tuple[str, bool]:
    """A new token written to ``path`` (0600) unless a racing process wrote one first.

    Written to a private temporary file, then hard-linked into place: the link is atomic and
    never replaces, so workers starting together all end up with the first one's token.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read(path, own=True), False
    finally:
        tmp.unlink(missing_ok=True)
    return token, True


def api_token(settings: Settings, *, generate: bool = False) -> tuple[str, str]:
    """The API token and where it came from (for the log); ``generate``: the worker may make it.

    Without a configured token, the file at ``api_token_generated_file`` is reused (if private)
    or, for the worker, created: workers and the CLI on one machine then share it.
    """
    configured = settings.api_token.get_secret_value().strip()
    if configured:
        return configured, "ORDERTRIAGE_API_TOKEN"
    if settings.api_token_file is not None:
        return _read(settings.api_token_file, own=False), str(settings.api_token_file)
    path = settings.api_token_generated_file
    if path.exists():
        return _read(path, own=True), f"{path.resolve()} (reused)"
    if not generate:
        raise TokenError(
            "no API token: set ORDERTRIAGE_API_TOKEN or ORDERTRIAGE_API_TOKEN_FILE, or start"
            f" a worker in this directory first (it writes one to {path})"
        )
    token, created = create_token_file(path)
    return token, f"{path.resolve()} ({'generated' if created else 'reused'})"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name or 0.0.0.0-like wildcard: reachable from elsewhere
        return False


def metrics_token(settings: Settings, host: str) -> str | None:
    """The /metrics token; None (open) on loopback without one.

    Bound wider without one, the server refuses to start: a generated token would sit on the
    worker's disk where Prometheus cannot read it, and the scrape would fail quietly with 401.
    """
    configured = settings.metrics_token.get_secret_value().strip()
    if configured:
        return configured
    if settings.metrics_token_file is not None:
        return _read(settings.metrics_token_file, own=False)
    if is_loopback(host):
        return None
    raise TokenError(
        f"the web server binds to {host!r}, beyond loopback, so /metrics needs its own token:"
        " set ORDERTRIAGE_METRICS_TOKEN_FILE (or ORDERTRIAGE_METRICS_TOKEN) and give"
        " Prometheus the same token (bearer_token_file)"
    )


def headers(token: str) -> dict[str, str]:
    """What a client sends."""
    return {"Authorization": f"Bearer {token}"}


def client_headers(settings: Settings) -> dict[str, str]:
    """The header for the CLI and tools: the configured token, else this machine's generated one."""
    return headers(api_token(settings)[0])


def _presented(header: str) -> bytes | None:
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        return None
    return credentials.encode("utf-8", "surrogateescape")


def _denied(message: str, error: str | None) -> web.Response:
    challenge = REALM if error is None else f'{REALM}, error="{error}"'
    return web.json_response(
        {"error": message}, status=401, headers={"WWW-Authenticate": challenge}
    )


@dataclass(frozen=True)
class Guard:
    """Which token each path needs: ``open_paths`` none, /metrics ``metrics`` (None: none)."""

    api: str
    metrics: str | None
    open_paths: frozenset[str]

    def needed(self, path: str) -> tuple[bytes, str] | None:
        if path in self.open_paths:
            return None
        if path == "/metrics":
            return None if self.metrics is None else (self.metrics.encode(), "metrics token")
        return self.api.encode(), "API token"

    def middleware(self) -> Middleware:
        @web.middleware
        async def bearer(request: web.Request, handler: Handler) -> web.StreamResponse:
            needed = self.needed(request.path)
            if needed is None:
                return await handler(request)
            expected, what = needed
            given = _presented(request.headers.get("Authorization", ""))
            if given is None:
                return _denied(f"send Authorization: Bearer <{what}>", None)
            # Constant time whatever the length or content: no early return on a mismatch.
            if not hmac.compare_digest(given, expected):
                return _denied(f"invalid {what}", "invalid_token")
            return await handler(request)

        return bearer

    def install(self, app: web.Application) -> None:
        """Guard every route of ``app`` (before it starts: aiohttp freezes middlewares then)."""
        app.middlewares.append(self.middleware())  # type: ignore[arg-type]
