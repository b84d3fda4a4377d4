"""Real vendor objects, parsed and stored by the real code, read back on the pages.

Expected values from ../shared/corpus/EXPECTED.json, converted to canonical units.
"""

import pytest
from django.urls import reverse

from rdsr.parse import parse_file
from rdsr.services import dose_record_store
from tests.web.factories import page_text

pytestmark = pytest.mark.django_db


def _store(path):
    return dose_record_store(record=parse_file(path)).study


def test_it_shows_the_total_dlp_of_a_siemens_ct_rdsr(logged_in, corpus_file):
    study = _store(corpus_file("CT-RDSR-Siemens_Flash-TAP-SS.dcm"))
    listing = page_text(logged_in.get(reverse("study-list")))
    # 724.52 mGy·cm stated and the sum of the four events (11.51 + 1.2 + 3.61 + 708.2).
    assert "1997-01-01 00:00 CT" in listing
    assert "ACC12345601 Thorax^TAP (Adult)" in listing
    assert " 4 724.5 rdsr" in listing
    detail = page_text(logged_in.get(reverse("study-detail", args=[study.pk])))
    assert "Total DLP (mGy·cm) 724.5" in detail
    assert "DLP total (mGy·cm) 724.5" in detail
    assert "SOMATOM Definition Flash" in detail
    for dlp in ("11.51", "1.2", "3.61", "708.2"):
        assert f" {dlp} " in detail, dlp


def test_it_shows_the_plane_dose_of_a_siemens_fluoroscopy_rdsr(logged_in, corpus_file):
    study = _store(corpus_file("RF-RDSR-Siemens-Zee.dcm"))
    detail = page_text(logged_in.get(reverse("study-detail", args=[study.pk])))
    # 1.6e-05 Gy·m² = 0.16 Gy·cm²; 0.00252 Gy = 2.52 mGy; 28 s of fluoroscopy; 8 events.
    assert "Total DAP (Gy·cm²) 0.16" in detail
    assert "DAP total (Gy·cm²) 0.16" in detail
    assert "Ka,r total (mGy) 2.52" in detail
    assert "Fluoroscopy time (s) 28" in detail
    assert "Irradiation events 8" in detail
    listing = page_text(logged_in.get(reverse("study-list")))
    assert " 8 0.16 28 rdsr" in listing
