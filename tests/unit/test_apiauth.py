"""The bearer guard and where tokens come from: 401 shape, constant-time check, file modes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams import apiauth
from streams.settings import Settings

TOKEN = "right-token-" + "x" * 24
METRICS = "metrics-token-" + "y" * 24


async def ok(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    for path in ("/healthz", "/orders/{id}", "/metrics", "/anything-new"):
        app.router.add_get(path, ok)
    apiauth.Guard(TOKEN, METRICS, frozenset({"/healthz"})).install(app)
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_open_paths_answer_anyone_and_the_rest_need_the_right_token(
    client: TestClient[web.Request, web.Application],
) -> None:
    assert (await client.get("/healthz")).status == 200
    for path in ("/orders/A1", "/anything-new"):  # a route nobody listed is locked too
        for given in (None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {METRICS}", "Bearer "):
            r = await client.get(path, headers={"Authorization": given} if given else {})
            assert r.status == 401, (path, given)
            assert r.headers["WWW-Authenticate"].startswith('Bearer realm="ordertriage"')
            body = await r.json()
            assert set(body) == {"error"} and TOKEN not in body["error"]
        r = await client.get(path, headers=apiauth.headers(TOKEN))
        assert r.status == 200 and await r.json() == {"ok": True}
    wrong = await client.get("/orders/A1", headers=apiauth.headers("nope" * 8))
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]


async def test_metrics_takes_its_own_token_not_the_api_one(
    client: TestClient[web.Request, web.Application],
) -> None:
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers=apiauth.headers(TOKEN))).status == 401
    assert (await client.get("/metrics", headers=apiauth.headers(METRICS))).status == 200


async def test_metrics_open_without_a_metrics_token() -> None:
    app = web.Application()
    app.router.add_get("/metrics", ok)
    app.router.add_get("/orders", ok)
    apiauth.Guard(TOKEN, None, frozenset()).install(app)
    async with TestClient(TestServer(app)) as c:
        assert (await c.get("/metrics")).status == 200
        assert (await c.get("/orders")).status == 401


async def test_every_check_goes_through_compare_digest(
    client: TestClient[web.Request, web.Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[bytes, bytes]] = []
    real = apiauth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(apiauth.hmac, "compare_digest", spy)
    # A shorter token, a same-length one and the right one: no length shortcut before the compare.
    for given in ("short", "z" * len(TOKEN), TOKEN):
        await client.get("/orders/A1", headers=apiauth.headers(given))
    assert [a for a, _ in seen] == [b"short", b"z" * len(TOKEN), TOKEN.encode()]
    assert all(b == TOKEN.encode() for _, b in seen)


async def test_the_header_and_token_never_reach_a_log(
    client: TestClient[web.Request, web.Application], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await client.get("/orders/A1", headers=apiauth.headers(TOKEN))
    await client.get("/orders/A1", headers=apiauth.headers(TOKEN + "bad"))
    logged = "\n".join(r.getMessage() + str(r.args) for r in caplog.records)
    assert TOKEN not in logged and "Authorization" not in logged


def settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(api_token_generated_file=tmp_path / "run" / "api-token", **kw)  # type: ignore[arg-type]


def test_generated_token_is_private_reused_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s = settings(tmp_path)
    with pytest.raises(apiauth.TokenError, match="start a worker"):
        apiauth.api_token(s)  # the CLI does not invent one
    old = os.umask(0o022)  # a permissive umask must not leak into the file
    try:
        token, source = apiauth.api_token(s, generate=True)
    finally:
        os.umask(old)
    path = s.api_token_generated_file
    assert path.stat().st_mode & 0o777 == 0o600 and "generated" in source and str(path) in source
    assert path.read_text().strip() == token and len(token) >= 32
    assert not [p for p in path.parent.iterdir() if p != path]  # no temporary file left
    again, source = apiauth.api_token(s, generate=True)  # a second worker, or the CLI
    assert again == token == apiauth.api_token(s)[0] and "reused" in source
    assert token not in caplog.text


def test_a_generated_file_others_can_read_is_refused(tmp_path: Path) -> None:
    s = settings(tmp_path)
    token, _ = apiauth.api_token(s, generate=True)
    for mode in (0o640, 0o604):
        s.api_token_generated_file.chmod(mode)
        with pytest.raises(apiauth.TokenError, match="other users") as caught:
            apiauth.api_token(s, generate=True)
        assert token not in str(caught.value)


def test_a_configured_file_may_be_group_readable_never_world_readable(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    s = settings(tmp_path, api_token_file=path)
    path.chmod(0o440)  # a Kubernetes Secret with fsGroup
    assert apiauth.api_token(s) == (TOKEN, str(path))
    path.chmod(0o644)
    with pytest.raises(apiauth.TokenError, match="chmod 600"):
        apiauth.api_token(s)
    path.chmod(0o600)
    path.write_text("short\n")
    with pytest.raises(apiauth.TokenError, match="fewer than 16"):
        apiauth.api_token(s)
    with pytest.raises(apiauth.TokenError, match="does not exist"):
        apiauth.api_token(settings(tmp_path, api_token_file=tmp_path / "missing"))
    assert not settings(tmp_path).api_token_generated_file.exists()  # never generated then


def test_configured_token_wins_and_settings_refuse_weak_or_ambiguous_tokens(
    tmp_path: Path,
) -> None:
    assert apiauth.api_token(settings(tmp_path, api_token=TOKEN)) == (
        TOKEN,
        "ORDERTRIAGE_API_TOKEN",
    )
    with pytest.raises(ValueError, match="at least 16"):
        Settings(api_token="short")
    with pytest.raises(ValueError, match="not both"):
        Settings(metrics_token=METRICS, metrics_token_file=tmp_path / "m")
    assert "secret" not in repr(Settings(api_token="secret" * 4)).replace("SecretStr", "")


def test_metrics_needs_a_token_beyond_loopback(tmp_path: Path) -> None:
    s = settings(tmp_path)
    for host in ("127.0.0.1", "::1", "localhost"):
        assert apiauth.metrics_token(s, host) is None
    for host in ("0.0.0.0", "10.1.2.3", "worker.local"):
        with pytest.raises(apiauth.TokenError, match="ORDERTRIAGE_METRICS_TOKEN_FILE"):
            apiauth.metrics_token(s, host)
    assert apiauth.metrics_token(settings(tmp_path, metrics_token=METRICS), "0.0.0.0") == METRICS


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"ORDERTRIAGE_WEB_HOST": "0.0.0.0"}, "ORDERTRIAGE_METRICS_TOKEN_FILE"),
        ({"ORDERTRIAGE_API_TOKEN_FILE": "{readable}"}, "may be read by other users"),
    ],
)
def test_the_worker_refuses_to_start_with_a_clear_error(
    tmp_path: Path, env: dict[str, str], reason: str
) -> None:
    readable = tmp_path / "token"
    readable.write_text(TOKEN)
    readable.chmod(0o644)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ORDERTRIAGE_")}
    environ |= {k: v.format(readable=readable) for k, v in env.items()}
    environ |= {
        "ORDERTRIAGE_API_TOKEN_GENERATED_FILE": str(tmp_path / "generated"),
        "KAFKA_BOOTSTRAP": "127.0.0.1:1",  # never reached: it stops before connecting
    }
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and reason in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and TOKEN not in done.stderr + done.stdout
