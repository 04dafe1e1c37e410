"""End to end in headless Debian chromium: take a quiz, see the score, see it in the progress chart."""

import pytest

from tests.e2e.conftest import SHOTS

pytestmark = pytest.mark.e2e


def test_take_a_quiz_see_score_and_progress_chart(live_app, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(live_app.url)
    page.get_by_text("Ready:").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Quiz").click()
    page.locator("#quiz-subject input").fill("Python")
    page.keyboard.press("Enter")
    count = page.locator("#quiz-count input")
    count.fill("2")
    page.get_by_label("True / false").check()
    assert page.get_by_label("True / false").is_checked()
    page.locator("#quiz-start").click()
    try:
        page.locator("#quiz-question").get_by_text("Question 1 of 2").wait_for(timeout=60_000)
        page.locator("#quiz-status").get_by_text("All 2 questions ready").wait_for(timeout=60_000)
        page.locator("#quiz-question").get_by_text("True or false:").wait_for(timeout=10_000)
    except Exception:
        page.screenshot(path=str(SHOTS / "quiz-failed.png"), full_page=True)
        raise
    for i in range(2):
        try:
            page.locator("#quiz-options label").first.click(timeout=30_000)  # "True"
        except Exception:
            page.screenshot(path=str(SHOTS / f"quiz-options-{i}.png"), full_page=True)
            (SHOTS / f"quiz-options-{i}.html").write_text(page.content())
            raise
        page.locator("#quiz-submit").click()
        page.locator("#quiz-feedback").get_by_text("source:").wait_for(timeout=20_000)
        if i == 0:
            page.locator("#quiz-next").click()
            page.locator("#quiz-question").get_by_text("Question 2 of 2").wait_for(timeout=20_000)
    # answering the last question closes the quiz and shows the score with its topic breakdown
    page.locator("#quiz-score").get_by_text("Score:").wait_for(timeout=20_000)
    score = page.locator("#quiz-score").inner_text()
    assert "/ 2" in score and "Topic" in score, score
    page.screenshot(path=str(SHOTS / "quiz.png"), full_page=True)

    page.get_by_role("tab", name="My progress").click()
    page.locator("#progress-headline").get_by_text("answers").wait_for(timeout=20_000)
    assert "2" in page.locator("#progress-headline").inner_text()
    page.locator("#progress-chart .js-plotly-plot, #progress-chart .plotly").first.wait_for(timeout=20_000)
    legend = page.locator("#progress-chart").inner_text()
    page.screenshot(path=str(SHOTS / "progress.png"), full_page=True)
    assert "Python" in legend, legend
