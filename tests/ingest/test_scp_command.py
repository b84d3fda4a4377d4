"""`manage.py run_scp`: the production listener as its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from ingest.models import ReceivedObject
from tests.ingest.conftest import wait_until
from tests.ingest.test_serve import ROOT, answers, free_port


def test_run_scp_listens_with_the_given_ae_title_stores_what_it_receives_and_stops_on_sigterm(
    transactional_db, child_env, tmp_path, corpus_file
):
    port = free_port()
    log = tmp_path / "run_scp.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "run_scp",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--ae-title",
            "DOSETEST",
        ],
        cwd=ROOT,
        env=child_env(CELERY_BROKER_URL=""),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: process.poll() is None and answers(port), timeout=60, what="run_scp to listen")
        for called, name in (("DOSETEST", "DX-RDSR-Canon_CXDI.dcm"), ("OLDNAME", "CT-RDSR-GEPixelMed.dcm")):
            sent = subprocess.run(
                ["storescu", "-aec", called, "127.0.0.1", str(port), str(corpus_file(name))],
                env=dict(os.environ, TCP_NODELAY="1"),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert sent.returncode == 0, sent.stderr

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    output = log.read_text()
    assert f"DICOM SCP DOSETEST listening on 127.0.0.1:{port}" in output
    assert output.rstrip().endswith("stopped")
    # A sender that calls us by another title is still served; the row says how it called us.
    assert sorted(ReceivedObject.objects.values_list("called_ae", "status")) == [
        ("DOSETEST", ReceivedObject.Status.DONE),
        ("OLDNAME", ReceivedObject.Status.DONE),
    ]
