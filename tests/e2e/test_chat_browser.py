"""End to end: a learner types a question in headless Debian chromium and sees the answer and its sources."""

import pytest

from tests.e2e.conftest import SHOTS

pytestmark = pytest.mark.e2e


def test_learner_asks_and_sees_answer_with_sources(live_app, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(live_app.url)
    page.get_by_text("Ready:").wait_for(timeout=60_000)
    box = page.locator("#chat-input textarea")
    box.fill("How does binary search work?")
    box.press("Enter")
    # The question is echoed at once...
    page.locator("#chatbot").get_by_text("How does binary search work?").wait_for(timeout=10_000)
    # ...then the sources panel fills in when the answer is complete.
    # (the heading, not the "Sources for each answer appear here." placeholder)
    page.locator("#sources h3").get_by_text("Sources").wait_for(timeout=120_000)
    sources = page.locator("#sources").inner_text()
    answer = page.locator("#chatbot .message.bot, #chatbot [data-testid='bot']").last.inner_text()
    page.screenshot(path=str(SHOTS / "chat.png"), full_page=True)
    assert "[1]" in sources and "sorting-and-searching" in sources, sources
    assert answer.strip() and answer.strip() != "…", answer
    assert "[" in answer, f"the answer should carry a citation marker: {answer!r}"


def test_empty_message_gets_a_gentle_prompt(live_app, browser):
    page = browser.new_page()
    page.goto(live_app.url)
    page.get_by_text("Ready:").wait_for(timeout=60_000)
    page.locator("#chat-send").click()
    page.get_by_text("Please type a question first").wait_for(timeout=10_000)
