"""The console in a real browser (Debian's Chromium driven by Playwright) against the whole demo bus:
a real broker, the registry, every service and simulator, the demo's scenario pushed through.

What a person does, in order: an anonymous visit gets nothing; an operator finds each demo order and
sees its journey; the order the demo leaves dead-lettered shows where and why it stopped; the
operator fixes its payload, previews and replays it, and sees the journey complete; a viewer sees
masked data and cannot replay. Each page's screenshot goes to ``docs/console/`` (linked from the
README and docs/console.md).

Chromium comes from Debian (``make browser`` installs it as ``promtool`` is installed); the test
skips, saying so, only where it cannot be installed (not root, no apt-get).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from simulators import scenario
from tests.integration.console.demo_bus import DemoBus, console_ready, demo_bus

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(__file__).resolve().parents[3] / "docs" / "console"
DEMO_ORDERS = ("#1042", "#2001", "#2002", "#2003", "#2004", "727", "250", "#2006")
"""The storefront numbers of the orders the demo scenario places (the lost #2006 is backfilled)."""

if CHROMIUM is None:
    pytest.skip("Chromium is not installed (make browser installs Debian's chromium as root)",
                allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoBus]:
    with demo_bus(tmp_path_factory.mktemp("console-e2e")) as running:
        assert console_ready(running), "the console's index did not catch up with the topics"
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def sign_in(browser: Browser, bus: DemoBus, token: str) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{bus.console}/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("user")).to_be_visible()
    return page


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_an_unauthenticated_request_gets_nothing(bus: DemoBus, browser: Browser) -> None:
    for path in ("/", "/journeys?q=%231042", f"/journeys/{scenario.BROKEN_ORDER_ID}", "/dead-letters",
                 "/flow", "/flow/lag.json", "/topics/orders.placed.v1", "/static/console.css"):
        answer = httpx.get(f"{bus.console}{path}", follow_redirects=False)
        assert answer.status_code in (401, 303), path
        assert answer.text in ("unauthenticated", ""), path
    forged = httpx.post(f"{bus.console}/login", data={"token": bus.operator_token}, follow_redirects=False)
    assert "failed=1" in forged.headers["location"], "a sign-in without the form's CSRF token is refused"
    page = browser.new_page()
    page.goto(f"{bus.console}/journeys?q=%231042")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    assert "1042" not in page.locator("main").inner_text()
    shot(page, "login")
    page.close()


def test_an_operator_finds_every_demo_order_and_sees_its_journey(bus: DemoBus, browser: Browser) -> None:
    page = sign_in(browser, bus, bus.operator_token)
    expect(page.get_by_test_id("pending-dead-letters")).to_contain_text("1 pending")
    shot(page, "overview")
    page.goto(f"{bus.console}/journeys")
    expect(page.get_by_test_id("hit").first).to_be_visible()
    shot(page, "journeys")
    for number in DEMO_ORDERS:
        page.goto(f"{bus.console}/journeys")
        page.fill("#q", number)
        page.click("form.search button")
        expect(page.get_by_test_id("timeline")).to_be_visible()
        outcomes = page.get_by_test_id("step").evaluate_all("els => els.map(e => e.dataset.outcome)")
        text = page.get_by_test_id("timeline").inner_text()
        assert "Received" in text and "Order placed" in text, f"{number}: {text}"
        assert "DEAD_LETTERED" not in outcomes, f"{number} stopped: {text}"
    page.goto(f"{bus.console}/journeys?q=%231042")
    timeline = page.get_by_test_id("timeline").inner_text()
    for step in ("Received", "Order placed", "Stock reserved", "ERP import file", "ERP cXML order",
                 "Delivered"):
        assert step in timeline, f"#1042's journey lacks {step}: {timeline}"
    shot(page, "journey")
    page.goto(f"{bus.console}/journeys?q=hanako.sato@example.jp")
    expect(page.get_by_test_id("timeline").or_(page.get_by_test_id("hits"))).to_be_visible()
    page.close()


def test_a_dead_lettered_order_is_fixed_replayed_and_completes(bus: DemoBus, browser: Browser) -> None:
    page = sign_in(browser, bus, bus.operator_token)
    page.goto(f"{bus.console}/journeys")
    stopped_orders = page.get_by_test_id("stopped-orders")
    expect(stopped_orders).to_contain_text("order-capture")
    stopped_orders.get_by_role("link", name=scenario.BROKEN_ORDER_ID).click()
    stopped = page.get_by_test_id("stopped")
    expect(stopped).to_contain_text("order-capture")
    expect(page.get_by_test_id("stop-reason")).to_contain_text("total")
    shot(page, "journey-stopped")
    page.get_by_test_id("dead-letter-link").click()
    expect(page.get_by_test_id("reason")).to_contain_text("total")
    expect(page.get_by_test_id("state")).to_contain_text("pending")
    shot(page, "dead-letter")
    page.get_by_test_id("edit-link").click()
    editor = page.get_by_test_id("edit-form").locator("textarea[name=text]")
    edited = editor.input_value().replace('"51,30"', '"51.30"')
    assert '"51.30"' in edited, "the editor shows the storefront's JSON body"
    editor.fill(edited)
    page.get_by_test_id("edit-form").locator("button").click()
    expect(page.get_by_test_id("edit-preview")).to_contain_text("51.30")
    shot(page, "replay-preview")
    page.get_by_test_id("edit-confirm").locator("button").click()
    expect(page.get_by_test_id("job-state")).to_contain_text("done", timeout=30_000)
    expect(page.get_by_test_id("job-audited")).to_have_text("1")
    replay_marks = Consumer({"bootstrap.servers": bus.bootstrap,
                             "group.id": "ecombus.dlq-replay.order-capture"})
    try:
        [mark] = replay_marks.committed([TopicPartition("dlq.order-capture", 0)], timeout=30)
    finally:
        replay_marks.close()
    assert mark.offset == 1, "ecombus dlq replay will not put the replayed dead letter back a second time"
    page.goto(f"{bus.console}/journeys/{scenario.BROKEN_ORDER_ID}")
    for _ in range(60):
        text = page.get_by_test_id("timeline").inner_text()
        if all(step in text for step in ("Order placed", "Stock reserved", "Sent to the ERP")):
            break
        page.wait_for_timeout(1000)
        page.reload()
    text = page.get_by_test_id("timeline").inner_text()
    for step in ("Order placed", "Stock reserved", "Sent to the ERP", "REPLAYED"):
        assert step in text, f"the replayed order's journey lacks {step}: {text}"
    expect(page.get_by_test_id("replayed-by")).to_contain_text("demo-operator")
    expect(page.get_by_test_id("stopped")).to_have_count(0)
    page.goto(f"{bus.console}/dead-letters")
    shot(page, "dead-letters")
    page.close()


def test_a_viewer_sees_masked_data_and_cannot_replay(bus: DemoBus, browser: Browser) -> None:
    page = sign_in(browser, bus, bus.viewer_token)
    expect(page.get_by_test_id("role")).to_have_text("viewer")
    page.goto(f"{bus.console}/journeys")
    listing = page.get_by_test_id("hits").inner_text()
    assert "hanako.sato@example.jp" not in listing and "zoe.mueller@example.de" not in listing
    assert "***" in listing or "…" in listing, listing
    page.goto(f"{bus.console}/topics/orders.placed.v1")
    body = page.locator("main").inner_text()
    assert "hanako.sato@example.jp" not in body and "Hauptstraße 5" not in body
    shot(page, "viewer-journey")
    page.goto(f"{bus.console}/journeys/{scenario.BROKEN_ORDER_ID}")
    page.get_by_test_id("timeline").get_by_role("link", name=re.compile("dead letter")).first.click()
    expect(page.get_by_test_id("reason")).to_contain_text("total")
    expect(page.get_by_test_id("edit-link")).to_have_count(0)
    expect(page.get_by_test_id("replay-one")).to_have_count(0)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    replay = httpx.post(f"{bus.console}/dead-letters/replay", cookies=cookies, follow_redirects=False,
                        data={"csrf_token": csrf, "service": "order-capture", "confirm": "1"})
    assert replay.status_code == 403, "a viewer's replay is refused"
    page.close()


def test_flow_and_topics_pages_render_for_an_operator(bus: DemoBus, browser: Browser) -> None:
    page = sign_in(browser, bus, bus.operator_token)
    page.goto(f"{bus.console}/flow")
    expect(page.locator("main")).to_contain_text("not yet in the ERP")
    page.wait_for_timeout(1500)  # the chart's script draws from /flow/lag.json
    shot(page, "flow")
    page.goto(f"{bus.console}/topics")
    expect(page.locator("main")).to_contain_text("orders.placed.v1")
    shot(page, "topics")
    page.goto(f"{bus.console}/topics/orders.placed.v1")
    expect(page.locator("main")).to_contain_text("order_id")
    shot(page, "topic")
    page.close()


def test_the_console_logged_no_personal_data(bus: DemoBus) -> None:
    """Runs after the others: searches by e-mail, masked and unmasked pages and a replay happened."""
    log = (bus.home / "logs" / "console.log").read_text(encoding="utf-8")
    assert "signed in" in log, "the console's log is where the stack writes it"
    for personal in ("hanako.sato@example.jp", "zoe.mueller@example.de", "Hauptstraße", "+81-90-1234-5678"):
        assert personal not in log, f"the console logged {personal!r}"
