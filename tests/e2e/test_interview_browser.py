"""End to end: in headless Debian chromium a candidate starts a one-question mock interview, answers by
voice (an espeak-ng recording), sees the transcript and its delivery (pace, fillers), submits, answers a
follow-up in text when one is asked, and gets the score, the reference and model answers, the summary
with its chart, and the interview in their history."""
import re

import pytest

from bench.media_samples import INTERVIEW_ANSWER as SPOKEN, espeak_available, speak

from tests.e2e.conftest import SHOTS

pytestmark = pytest.mark.e2e


def test_candidate_answers_by_voice_and_gets_scored(live_app, browser, tmp_path):
    from playwright.sync_api import expect

    if not espeak_available():
        pytest.fail("espeak-ng is not installed: run scripts/setup.sh --dev (bash scripts/test.sh does)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    recording = speak(SPOKEN, tmp_path / "answer.wav", words_per_minute=150)

    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(live_app.url)
    page.get_by_text("Ready:").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Interview coach").click()

    count = page.locator("#interview-count input[type=number]")
    count.fill("1")
    count.press("Tab")
    page.locator("#interview-start").click()
    question = page.locator("#interview-question")
    expect(question).to_contain_text("Question 1 of 1", timeout=60_000)

    voice = page.locator("#interview-voice")
    if voice.locator("input[type=file]").count() == 0:  # the recorder is the first source: switch to upload
        voice.locator("button[aria-label='Upload file']").click()
    voice.locator("input[type=file]").set_input_files(str(recording))
    answer = page.locator("#interview-answer textarea")
    expect(answer).to_have_value(re.compile(r"overfitting", re.I), timeout=90_000)
    delivery = page.locator("#interview-delivery")
    expect(delivery).to_contain_text("words/min", timeout=30_000)
    wpm = int(re.search(r"(\d+) words/min", delivery.inner_text()).group(1))
    assert 100 <= wpm <= 220, f"espeak spoke at 150 words/min; heard {wpm}"

    page.locator("#interview-submit").click()
    feedback = page.locator("#interview-feedback")
    expect(feedback).to_contain_text("/ 10", timeout=60_000)
    if "Follow-up" in question.inner_text():  # the voice answer missed key points: one follow-up, in text
        answer.fill("It also depends on model capacity: a simpler model or dropout helps, checked on a "
                    "validation set.")
        page.locator("#interview-submit").click()
    expect(feedback).to_contain_text(re.compile(r"Score: [\d.]+ / 10"), timeout=60_000)
    expect(question).to_contain_text("Interview complete")
    model_answer = page.locator("#interview-model-answer")
    expect(model_answer).to_contain_text("Reference answer")
    expect(model_answer).to_contain_text("Model answer", timeout=180_000)  # generated with the interview adapter
    summary = page.locator("#interview-summary")
    expect(summary).to_contain_text("Interview summary")
    expect(page.locator("#interview-chart .js-plotly-plot")).to_be_visible(timeout=30_000)

    page.get_by_text("Your interview history").click()
    expect(page.locator("#interview-history")).to_contain_text("1 / 1", timeout=30_000)
    page.screenshot(path=str(SHOTS / "interview.png"), full_page=True)
