"""The notifier's pure parts: config errors, signing, tokens, rate limits, digests, routing."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, time
from pathlib import Path
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest

from streams.notify import messages, payloads, ratelimit, tokens
from streams.notify.config import ConfigError, QuietHours, load
from streams.notify.messages import Item
from streams.notify.plan import in_quiet_hours, plan
from tests.notify.helpers import SECRETS, config_text, environment, notification

URLS = {
    p: f"http://127.0.0.1:1/{p}?k=v" for p in ("dingtalk", "feishu", "wecom", "slack", "webhook")
}


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in environment(URLS).items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "notify.yaml"
    path.write_text(config_text(2525, tmp_path / "ca.pem", "https://ack.example.test"))
    return path


# --- config --------------------------------------------------------------------------------------


def test_config_loads_and_resolves_secrets(config_file: Path) -> None:
    config, secrets = load(config_file)
    assert set(config.roles) == {"ops", "sales"}
    assert secrets["ops-dingtalk.secret"].get_secret_value() == SECRETS["dingtalk_secret"]
    assert SECRETS["dingtalk_secret"] not in repr(secrets)  # SecretStr hides it


def _broken(config_file: Path, old: str, new: str) -> str:
    text = config_file.read_text()
    assert old in text
    config_file.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load(config_file)
    return str(err.value)


def _line_of(config_file: Path, needle: str) -> int:
    return next(
        i for i, line in enumerate(config_file.read_text().splitlines(), 1) if needle in line
    )


def test_config_error_names_the_line_of_a_bad_value(config_file: Path) -> None:
    message = _broken(config_file, "type: wecom", "type: wechat")
    assert f"{config_file}:{_line_of(config_file, 'type: wechat')}:" in message
    assert "channels.ops-wecom" in message


def test_config_error_names_the_line_of_an_unknown_field(config_file: Path) -> None:
    message = _broken(config_file, "    language: zh\n", "    langauge: zh\n")
    assert f":{_line_of(config_file, 'langauge')}:" in message and "langauge" in message


def test_config_error_on_broken_yaml_names_the_line(config_file: Path) -> None:
    message = _broken(config_file, "  ops: [li.wei, wang.fang]", "  ops: [li.wei, wang.fang")
    assert "not valid YAML" in message and f"{config_file}:" in message


def test_config_error_on_unknown_channel_and_missing_secret(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "unknown channel 'ops-line'" in _broken(
        config_file, "[ops-dingtalk, ops-wecom]", "[ops-line]"
    )
    config_file.write_text(config_text(2525, Path("ca.pem"), "https://x"))
    monkeypatch.delenv("NT_FEISHU_SECRET")
    with pytest.raises(ConfigError, match=r"NT_FEISHU_SECRET is not set") as err:
        load(config_file)
    assert f":{_line_of(config_file, '{env: NT_FEISHU_SECRET}')}:" in str(err.value)


# --- signing, as each platform documents it ------------------------------------------------------


def test_dingtalk_sign_is_urlencoded_base64_hmac_of_timestamp_newline_secret() -> None:
    secret, ts = "SEC000example", 1_700_000_000_123
    sign = payloads.dingtalk_sign(secret, ts)
    raw = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    assert unquote_plus(sign) == base64.b64encode(raw).decode()
    assert "+" not in sign and "/" not in sign and "=" not in sign  # URL-safe as a parameter
    url = payloads.dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=t", secret, ts)
    query = parse_qs(urlsplit(url).query)
    assert query["timestamp"] == [str(ts)] and query["sign"] == [base64.b64encode(raw).decode()]


def test_feishu_sign_keys_hmac_with_timestamp_newline_secret_over_empty_message() -> None:
    secret, ts = "feishu-secret", 1_700_000_000
    expected = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest())
    assert payloads.feishu_sign(secret, ts) == expected.decode()
    msg = messages.Message("t", ["**t**", "x"])
    body = payloads.feishu(msg, secret, ts)
    assert body["timestamp"] == str(ts) and body["sign"] == expected.decode()
    assert "sign" not in payloads.feishu(msg, None, ts)


def test_webhook_signature_covers_timestamp_and_body() -> None:
    sig = payloads.webhook_signature("k", 10, b"{}")
    assert sig == "sha256=" + hmac.new(b"k", b"10.{}", hashlib.sha256).hexdigest()
    assert sig != payloads.webhook_signature("k", 11, b"{}")


# --- answers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "status", "body", "ok", "retry"),
    [
        ("dingtalk", 200, b'{"errcode":0,"errmsg":"ok"}', True, False),
        ("dingtalk", 200, b'{"errcode":130101,"errmsg":"send too fast"}', False, True),
        ("dingtalk", 200, b'{"errcode":310000,"errmsg":"sign not match"}', False, False),
        ("feishu", 200, b'{"code":0,"msg":"success"}', True, False),
        ("feishu", 200, b'{"code":11232,"msg":"frequency limited"}', False, True),
        ("feishu", 400, b'{"code":9499,"msg":"Bad Request"}', False, False),
        ("wecom", 200, b'{"errcode":45009,"errmsg":"api freq out of limit"}', False, True),
        ("slack", 200, b"ok", True, False),
        ("slack", 429, b"rate_limited", False, True),
        ("slack", 404, b"no_service", False, False),
        ("webhook", 503, b"", False, True),
    ],
)
def test_answers_read_as_each_platform_answers(
    platform: str, status: int, body: bytes, ok: bool, retry: bool
) -> None:
    answer = payloads.answer(platform, status, body, "3" if status == 429 else None)
    assert (answer.ok, answer.retryable) == (ok, retry)
    assert answer.retry_after == (3.0 if status == 429 else None)


# --- tokens --------------------------------------------------------------------------------------


def test_token_round_trip_and_refusals() -> None:
    secret = b"s3cret"
    claims = tokens.Claims("n-1", "li.wei", "ack", 2_000)
    token = tokens.sign(secret, claims)
    assert tokens.verify(secret, token, 1_999) == claims
    with pytest.raises(tokens.BadToken) as err:
        tokens.verify(secret, token, 2_000)
    assert err.value.reason == "expired"
    with pytest.raises(tokens.BadToken) as err:
        tokens.verify(b"other", token, 1_000)
    assert err.value.reason == "forged"
    _, mac = token.split(".")
    other = tokens.sign(secret, tokens.Claims("n-1", "li.wei", "claim", 2_000)).split(".")[0]
    with pytest.raises(tokens.BadToken) as err:
        tokens.verify(secret, f"{other}.{mac}", 1_000)  # a claim with the ack's signature
    assert err.value.reason == "forged"
    for junk in ("", "abc", "a.b.c", "!!.??"):
        with pytest.raises(tokens.BadToken):
            tokens.verify(secret, junk, 1_000)


# --- rate limits and digests ---------------------------------------------------------------------


def test_dingtalk_limiter_allows_twenty_a_minute() -> None:
    lim = ratelimit.limiter("dingtalk")
    for i in range(20):
        assert lim.room(100.0 + i) >= 1
        lim.record(100.0 + i)
    assert lim.room(119.5) == 0
    assert lim.wait(119.5) == pytest.approx(40.5)  # the first send leaves the window at 160
    assert lim.room(160.0) == 1


def test_feishu_limiter_has_a_per_second_window_too() -> None:
    lim = ratelimit.limiter("feishu")
    for _ in range(5):
        lim.record(10.0)
    assert lim.room(10.5) == 0 and lim.wait(10.5) == pytest.approx(0.5)
    assert lim.room(11.0) == 5


def test_split_folds_the_surplus_into_one_digest_slot() -> None:
    assert ratelimit.split(5, 20) == (5, False)
    assert ratelimit.split(50, 20) == (19, True)
    assert ratelimit.split(50, 1) == (0, True)


def test_digest_counts_and_puts_the_most_important_first() -> None:
    items = [
        Item(notification(i, severity=s), f"https://x/act?token=t{i}")
        for i, s in enumerate(["info", "critical", "warning"] * 5)
    ]
    msg = messages.digest(items, "en")
    assert msg.title.startswith("15 notifications")
    assert "critical 5, warning 5, info 5" in msg.lines[1]
    assert "[critical]" in msg.lines[2] and len(msg.lines) == 2 + messages.DIGEST_ITEMS + 1
    assert msg.notification_ids[0] == "n-00001" and len(msg.notification_ids) == 15
    assert "汇总" in messages.digest(items, "zh").title


# --- routing -------------------------------------------------------------------------------------


def test_plan_sends_a_group_robot_once_and_reports_what_has_nowhere_to_go(
    config_file: Path,
) -> None:
    config, _ = load(config_file)
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    deliveries, problems = plan(notification(1, "ops"), config, now)
    assert sorted((d.channel, d.to) for d in deliveries) == sorted(
        [
            ("ops-dingtalk", ""),
            ("ops-feishu", ""),
            ("ops-wecom", ""),
            ("mail", "li.wei@example.test"),
        ]
    )
    assert not problems
    assert {d.language for d in deliveries if d.channel == "mail"} == {"zh"}
    _, problems = plan(notification(2, "sales"), config, now)
    assert [(p.reason, p.person) for p in problems] == [("no_channel", "nobody-reachable")]
    deliveries, problems = plan(notification(3, "legal"), config, now)
    assert not deliveries and [p.reason for p in problems] == ["unknown_role"]


def test_quiet_hours_span_midnight_in_the_persons_zone() -> None:
    quiet = QuietHours(start=time(22), end=time(7), timezone="Asia/Shanghai")
    assert in_quiet_hours(quiet, datetime(2026, 1, 1, 15, 30, tzinfo=UTC))  # 23:30 in Shanghai
    assert not in_quiet_hours(quiet, datetime(2026, 1, 1, 4, 0, tzinfo=UTC))  # 12:00


def test_messages_carry_no_customer_contact_data() -> None:
    n = notification(7)
    msg = messages.single(Item(n, "https://x/act?token=a.b", "https://crm/o-00007"), "zh")
    text = "\n".join(msg.lines)
    assert n.message in text and "ship-3d" in text and "https://x/act?token=a.b" in text
    for payload in (payloads.dingtalk(msg), payloads.wecom(msg), payloads.slack(msg)):
        assert "@" not in str(payload)


def test_quiet_hours_hold_back_warnings_on_personal_channels_only(config_file: Path) -> None:
    text = config_file.read_text().replace(
        "    language: zh\n    channels: [ops-dingtalk, ops-feishu",
        "    language: zh\n"
        '    quiet_hours: {start: "22:00", end: "07:00", timezone: Asia/Shanghai}\n'
        "    channels: [ops-dingtalk, ops-feishu",
    )
    config_file.write_text(text)
    config, _ = load(config_file)
    night = datetime(2026, 1, 1, 16, tzinfo=UTC)  # 00:00 in Shanghai
    deliveries, _ = plan(notification(1, "ops", severity="warning"), config, night)
    assert {(d.channel, d.quiet) for d in deliveries if d.person == "li.wei"} == {("mail", True)}
    assert not any(d.quiet for d in deliveries if d.to == "")  # group robots still get it
    urgent, _ = plan(notification(2, "ops", severity="critical"), config, night)
    assert not any(d.quiet for d in urgent)


def test_the_command_refuses_a_broken_config_naming_the_line(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from streams.cli.main import main

    ok = CliRunner().invoke(main, ["notify", "--config", str(config_file), "--check"])
    assert ok.exit_code == 0 and "2 roles, 4 people, 6 channels" in ok.output
    config_file.write_text(config_file.read_text().replace("port: 2525", "port: many"))
    bad = CliRunner().invoke(main, ["notify", "--config", str(config_file), "--check"])
    assert bad.exit_code == 2
    assert f"{config_file}:{_line_of(config_file, 'port: many')}: channels.mail.email.port" in (
        bad.output
    )
