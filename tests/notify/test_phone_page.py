"""The ack page in a real browser (Debian's Chromium, driven by Playwright) at a phone's size.

From a delivered message's link: the page renders the notification in the person's language,
the button writes an ``orders.actions`` event, and the same link a second time, or a forged
one, does nothing and says so. Screenshots go to docs/.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, async_playwright

from schemas.events import OrderAction
from streams.kafka.io import read_all
from tests.notify.conftest import Setup
from tests.notify.fakes import TOKEN, Mailbox, Platforms
from tests.notify.helpers import notification, until
from tests.notify.test_delivery import send

DOCS = Path(__file__).parents[2] / "docs"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


async def _open(browser: Browser, url: str):  # type: ignore[no-untyped-def]
    context = await browser.new_context(**PHONE)  # type: ignore[arg-type]
    page = await context.new_page()
    response = await page.goto(url)
    return page, response


async def _actions(setup: Setup) -> list[OrderAction]:
    topic = setup.settings.topic("orders.actions")
    return [
        OrderAction.model_validate_json(v)
        for v in await read_all(setup.settings.bootstrap, [topic])
    ]


async def test_the_ack_page_works_on_a_phone(
    notifier: Setup, platforms: Platforms, mailbox: Mailbox
) -> None:
    en, zh = notification(1, "sales", severity="high"), notification(2, "ops", severity="critical")
    await send(notifier, [en, zh])
    await until(lambda: platforms.of("slack") and len(mailbox.messages) >= 2, 30, "deliveries")
    slack_link = TOKEN.search(platforms.of("slack")[0].text)
    mail_zh = next(m for m in mailbox.messages if m["to"] == "li.wei@example.test")
    zh_link = TOKEN.search(mail_zh["text"])
    assert slack_link and zh_link
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            # English, from the Slack message (a group channel: it acts as @sales-slack).
            page, response = await _open(browser, f"{notifier.base_url}/act?{slack_link.group(0)}")
            assert response is not None and response.status == 200
            assert await page.locator("h1").inner_text() == f"Order {en.order_id}"
            assert en.message in await page.locator("#message").inner_text()
            button = page.locator("#btn-ack")
            assert await button.is_visible()
            box = await button.bounding_box()
            assert box is not None and box["height"] >= 44 and box["x"] + box["width"] <= 390
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, "no sideways scrolling on a phone"
            await page.screenshot(path=str(DOCS / "notify-phone-en.png"), full_page=True)
            await button.tap()
            await page.wait_for_selector("#status.good")
            assert "Acknowledged" in await page.locator("#status").inner_text()
            written = await _actions(notifier)
            assert [(a.action, a.order_id, a.by, a.cause_event_id) for a in written] == [
                ("ack", en.order_id, "@sales-slack", en.cause_event_id)
            ]
            # The same link again: nothing more happens, and the page says so.
            again, _ = await _open(browser, f"{notifier.base_url}/act?{slack_link.group(0)}")
            assert "already used" in await again.locator("#status").inner_text()
            assert await again.locator("#btn-ack").count() == 0
            # A forged link: refused.
            body, mac = slack_link.group(1).split(".")
            forged, resp = await _open(browser, f"{notifier.base_url}/act?token={body}.{mac[::-1]}")
            assert resp is not None and resp.status == 403
            assert "not valid" in await forged.locator("#status").inner_text()

            # Chinese, from li.wei's mail; she claims it.
            page, response = await _open(browser, f"{notifier.base_url}/act?{zh_link.group(0)}")
            assert response is not None and response.status == 200
            assert await page.locator("h1").inner_text() == f"订单 {zh.order_id}"
            assert await page.locator("#btn-claim").inner_text() == "认领"
            await page.screenshot(path=str(DOCS / "notify-phone-zh.png"), full_page=True)
            await page.locator("#btn-claim").tap()
            await page.wait_for_selector("#status.good")
            assert "已认领" in await page.locator("#status").inner_text()
        finally:
            await browser.close()
    written = await _actions(notifier)
    assert sorted((a.action, a.by) for a in written) == [
        ("ack", "@sales-slack"),
        ("claim", "li.wei"),
    ]
    assert re.fullmatch(r"[0-9a-f-]{36}", written[0].action_id)
