"""`python -m rdsr FILE...`: one JSON line per file, errors reported in line, no Django needed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE", "CELERY", "DOSEMGMT"))}
    return subprocess.run([sys.executable, "-m", "rdsr", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_it_prints_one_record_per_corpus_file_and_exits_zero(corpus_dir):
    files = sorted((corpus_dir / "dicom").glob("*.dcm"))
    result = run_cli(*map(str, files))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["source"]["path"] for line in lines] == [str(f) for f in files]
    by_name = {Path(line["source"]["path"]).name: line for line in lines}
    assert by_name["CT-RDSR-GEPixelMed.dcm"]["ct_totals"]["dlp_total_mgycm"] == 586.34
    assert by_name["RF-RDSR-Philips_Allura.dcm"]["planes"][0]["plane"] == "single"
    assert by_name["ESR_non-dose.dcm"]["source"]["kind"] == "not-dose"
    assert all("error" not in line for line in lines)


def test_an_unreadable_file_gives_an_error_line_and_the_run_goes_on(corpus_file, tmp_path):
    good = corpus_file("CT-RDSR-Siemens-Multi-1.dcm")
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(good.read_bytes()[:700])
    missing = tmp_path / "missing.dcm"
    result = run_cli(str(broken), str(missing), str(good))
    assert result.returncode == 1
    first, second, third = (json.loads(line) for line in result.stdout.splitlines())
    assert first["source"] == {"path": str(broken)} and first["error"]
    assert second["source"] == {"path": str(missing)} and second["error"]
    assert third["source"]["kind"] == "rdsr" and len(third["events"]) == 1


def test_a_directory_is_walked_recursively(corpus_file, tmp_path):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    shutil.copy(corpus_file("DX-RDSR-Canon_CXDI.dcm"), nested / "one.dcm")
    shutil.copy(corpus_file("MG-RDSR-Hologic_2D.dcm"), tmp_path / "two.dcm")
    result = run_cli(str(tmp_path))
    assert result.returncode == 0, result.stderr
    modalities = sorted(json.loads(line)["study"]["modality"] for line in result.stdout.splitlines())
    assert modalities == ["DX", "MG"]
