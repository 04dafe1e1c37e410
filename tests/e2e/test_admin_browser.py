"""End to end: in headless chromium, an admin logs in and sees the Admin tab with statistics;
a learner logs in and has no Admin tab. Real server and login, scripted model (no model load)."""
import time

import pytest

from tests.app.admin_fixtures import ADMIN, ADMIN_PW, LEARNER, LEARNER_PW, admin_setup, running_server
from tutor.metrics import ModelCall

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    setup = admin_setup(tmp_path_factory.mktemp("admin-e2e"))
    now = time.time()
    for i in range(25):
        setup.tutor.metrics.record_call(ModelCall("smollm2", None, "chat", "ann", now - 60 + i, 0.2, 1.0, 50, 60,
                                                  20.0, True))
    with running_server(setup.services) as (url, _demo):
        yield url


def login(browser, url, user, password):
    page = browser.new_context().new_page()
    page.goto(url)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()
    page.get_by_role("tab", name="Chat").wait_for(timeout=30_000)
    return page


def test_admin_sees_the_admin_tab_with_statistics(server, browser):
    page = login(browser, server, ADMIN, ADMIN_PW)
    tab = page.get_by_role("tab", name="Admin")
    tab.wait_for(timeout=30_000)
    tab.click()
    page.locator("#admin-health").get_by_text("Health").wait_for(timeout=30_000)
    page.get_by_role("tab", name="AI performance").click()
    page.locator("#admin-recommendation").get_by_text("Recommended for").wait_for(timeout=30_000)
    assert "smollm2" in page.locator("#admin-recommendation").inner_text()
    assert "smollm2" in page.locator("#admin-stats").inner_text()


def test_learner_has_no_admin_tab(server, browser):
    page = login(browser, server, LEARNER, LEARNER_PW)
    page.wait_for_timeout(2000)  # page-load events have run
    assert page.get_by_role("tab", name="Admin").count() == 0
    assert "smollm2" not in page.content()


def test_wrong_password_stays_on_the_login_page(server, browser):
    page = browser.new_context().new_page()
    page.goto(server)
    page.get_by_label("username").fill(LEARNER)
    page.get_by_label("password").fill("not-the-password")
    page.get_by_role("button", name="Login").click()
    page.get_by_text("Incorrect").wait_for(timeout=10_000)
