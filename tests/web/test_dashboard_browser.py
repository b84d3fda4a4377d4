"""The MPE in a real browser (Debian's chromium): dashboard, filter, timeline, a link to a study."""

import os

import pytest

from tests.drl.test_stats_selectors import build_world
from tests.web.factories import PASSWORD
from tests.web.test_browser_smoke import ARTIFACTS, browser_page  # noqa: F401

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytest.importorskip("playwright.sync_api")


def _seeded_catalogue() -> None:
    """The shipped procedures and DRL sets, as the migration seeds them.

    A transactional test starts from whatever the one before left: another
    transactional test may have emptied the tables the migration filled.
    """
    import importlib

    from django.apps import apps

    from drl.models import StandardProcedure

    if not StandardProcedure.objects.exists():
        importlib.import_module("drl.migrations.0002_seed_catalogue_and_drl_sets").seed(apps, None)


@pytest.mark.django_db(transaction=True)
def test_the_mpe_opens_the_dashboard_filters_follows_a_timeline_and_a_study(
    live_server, browser_page, django_user_model  # noqa: F811
):
    django_user_model.objects.create_user(username="mpe", password=PASSWORD)
    _seeded_catalogue()
    world = build_world()
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser_page
    offline = []
    page.on("request", lambda r: offline.append(r.url) if not r.url.startswith(live_server.url) else None)

    page.goto(f"{live_server.url}/stats/?date_from=2024-01-01&date_to=2024-12-31&min_n=3")
    page.fill("input[name=username]", "mpe")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#dashboard-chart-plot[data-drawn=yes] .main-svg")
    assert "CT abdomen-pelvis" in page.inner_text("table.dashboard")
    assert "1 non-patient study" in page.inner_text("p.excluded")
    page.screenshot(path=str(ARTIFACTS / "stats-dashboard.png"), full_page=True)

    page.check("input[name=standard_size]")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**standard_size=on**")
    assert "n=3" in page.inner_text("table.dashboard")  # the 100 kg patient left out

    page.click("table.dashboard >> text=CT abdomen-pelvis")
    page.wait_for_url("**/stats/timeline/**")
    page.select_option("select[name=quantity]", "ctdivol")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#timeline-chart-plot[data-drawn=yes] .main-svg")
    assert "median kVp 120 → 100 kV" in page.inner_text("section.card")
    page.screenshot(path=str(ARTIFACTS / "stats-timeline.png"), full_page=True)

    page.click("nav.tabs >> text=Studies")
    page.wait_for_selector("table.statstudies")
    page.click("table.statstudies >> text=2024-01-10")
    page.wait_for_url(f"**/studies/{world['studies'][0].pk}/")
    assert "ACC0" in page.inner_text("main")
    assert offline == [], "every resource comes from our own server (no CDN)"
