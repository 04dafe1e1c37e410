"""End to end: in headless Debian chromium a learner uploads a photo of a problem and a spoken
question on the Voice & photo tab, sees what was read and heard, asks, and gets a cited answer."""
import re

import pytest

from bench.media_samples import draw_problem, espeak_available, speak

from tests.e2e.conftest import SHOTS

pytestmark = pytest.mark.e2e


def test_learner_asks_with_a_photo_and_a_recording(live_app, browser, tmp_path):
    from playwright.sync_api import expect

    if not espeak_available():
        pytest.fail("espeak-ng is not installed: run scripts/setup.sh --dev (bash scripts/test.sh does)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    photo = tmp_path / "problem.jpg"
    draw_problem(["What is the time complexity of binary search", "on a sorted list of n items?"],
                 "photo", seed=2).save(photo, quality=90)
    recording = speak("Explain how binary search works.", tmp_path / "question.wav")

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(live_app.url)
    page.get_by_text("Ready:").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Voice & photo").click()

    page.locator("#mm-image input[type=file]").set_input_files(str(photo))
    image_text = page.locator("#mm-image-text textarea")
    expect(image_text).to_have_value(re.compile(r"time complexity of binary search"), timeout=90_000)
    expect(page.locator("#mm-image-info")).to_contain_text("SMARTLEARN_MEDIA_CAPTION_MODEL")  # no caption model

    page.locator("#mm-audio input[type=file]").set_input_files(str(recording))
    question = page.locator("#mm-question textarea")
    expect(question).to_have_value(re.compile(r"search", re.I), timeout=90_000)
    expect(page.locator("#mm-audio-info")).to_contain_text("Transcribed")

    page.locator("#mm-ask").click()
    sources = page.locator("#mm-sources")
    sources.locator("h3", has_text="Sources").wait_for(timeout=180_000)  # not the placeholder line
    expect(page.locator("#mm-answer")).not_to_contain_text("Searching the course material", timeout=30_000)
    answer = page.locator("#mm-answer").inner_text()
    page.screenshot(path=str(SHOTS / "voice-photo.png"), full_page=True)
    assert "sorting-and-searching" in sources.inner_text(), sources.inner_text()
    assert re.search(r"\[\d\]", answer), f"the answer should carry a citation marker: {answer!r}"


def test_a_file_that_is_not_an_image_gets_a_message(live_app, browser, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("these are my notes, not a picture")
    page = browser.new_page()
    page.goto(live_app.url)
    page.get_by_text("Ready:").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Voice & photo").click()
    page.locator("#mm-image input[type=file]").set_input_files(str(fake))
    page.locator("#mm-image-info").get_by_text("is not a PNG, JPEG or WebP image").wait_for(timeout=30_000)
