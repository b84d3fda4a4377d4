"""The MPE's statistics pages: rendered, audited where they show patients, CSV of what is shown."""

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

from audit.models import AuditEvent
from tests.drl.test_stats_selectors import build_world
from tests.web.factories import page_text

RANGE = "date_from=2024-01-01&date_to=2024-12-31"


@pytest.fixture
def world(db):
    return build_world()


def test_the_dashboard_shows_room_medians_against_the_drl_and_what_was_left_out(logged_in, world):
    response = logged_in.get(f"/stats/?{RANGE}&min_n=3")
    text = page_text(response)
    assert "CT abdomen-pelvis" in text and "CT A" in text and "CT B" in text
    assert "1 non-patient study" in text and "1 event with values in review" in text
    assert 'class="num ratio r-08"' in response.content.decode()  # 250 / 300
    assert "vendor/plotly.min.js" in response.content.decode() and "cdn" not in response.content.decode().lower()


def test_plotly_is_served_from_our_own_static_files_as_the_pinned_package_ships_it():
    import plotly

    ours = finders.find("vendor/plotly.min.js")
    shipped = f"{plotly.__path__[0]}/package_data/plotly.min.js"
    assert ours and open(ours, "rb").read() == open(shipped, "rb").read()


def test_the_statistics_table_states_units_and_downloads_as_csv(logged_in, world):
    text = page_text(logged_in.get(f"/stats/table/?{RANGE}&min_n=3&quantity=dlp"))
    assert "mGy·cm" in text and "325" in text and "too few values" in text
    csv = logged_in.get(f"/stats/table/?{RANGE}&min_n=3&quantity=dlp&format=csv").content.decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("Procedure,Modality,Room,Quantity,Unit")
    assert "CT A,DLP,mGy·cm,,4,250.0" in csv


def test_timeline_and_distribution_draw_a_chart_of_one_procedure(logged_in, world):
    q = f"{RANGE}&procedure={world['procedure'].pk}&quantity=ctdivol"
    timeline = logged_in.get(f"/stats/timeline/?{q}")
    assert 'data-chart="timeline-chart"' in timeline.content.decode()
    assert "median kVp 120 → 100 kV" in page_text(timeline)
    distribution = logged_in.get(f"/stats/distribution/?{q}").content.decode()
    assert 'data-chart="hist-chart"' in distribution and 'data-chart="box-chart"' in distribution


def test_lists_that_show_patients_are_audited_once_per_view(logged_in, world):
    before = AuditEvent.objects.count()
    assert "P-1" in page_text(logged_in.get("/stats/studies/?size_band=50-90"))
    assert "P-1" in page_text(logged_in.get(f"/stats/exceedances/?{RANGE}&multiple=1"))
    assert "P-1" in page_text(logged_in.get("/stats/events/?protocol=AP"))
    assert "Doe^Jane" in page_text(logged_in.get(f"/stats/patients/{world['patient'].pk}/"))
    events = list(AuditEvent.objects.order_by("id")[before:])
    assert [e.object_type for e in events] == ["study list", "dose exceedances", "event list", "patient"]
    assert events[-1].patient_pk == world["patient"].pk


def test_study_and_event_lists_download_what_is_shown_as_csv(logged_in, world):
    csv = logged_in.get("/stats/studies/?size_band=50-90&format=csv").content.decode("utf-8-sig")
    lines = csv.splitlines()
    assert "Total DLP (mGy·cm)" in lines[0] and len(lines) == 1 + 3
    events = logged_in.get("/stats/events/?protocol=AP&format=csv").content.decode("utf-8-sig").splitlines()
    assert "CTDIvol (mGy)" in events[0] and any("ctdivol_mgy" in line for line in events)
    assert AuditEvent.objects.filter(action="export").count() == 2


def test_image_links_follow_the_viewer_template_and_are_hidden_without_one(logged_in, world, monkeypatch):
    assert "images</a>" not in logged_in.get("/stats/studies/").content.decode()
    monkeypatch.setattr(settings, "VIEWER_URL_TEMPLATE", "https://pacs.example/viewer?uid={study_instance_uid}")
    html = logged_in.get("/stats/studies/").content.decode()
    assert f"https://pacs.example/viewer?uid={world['studies'][0].study_instance_uid}" in html


def test_every_statistics_page_needs_a_login(client, db):
    for url in ["/stats/", "/stats/table/", "/stats/studies/", "/stats/events/", "/stats/exceedances/"]:
        assert "/accounts/login/" in client.get(url)["Location"]
