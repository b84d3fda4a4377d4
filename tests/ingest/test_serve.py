"""`manage.py serve` as a user starts it: one process, DICOM in, study on the web."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pydicom
import pytest
from django.contrib.auth import get_user_model

from ingest.models import ReceivedObject
from rdsr.models import Study
from tests.ingest.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Browser:
    """Just enough of a browser to log in to the web UI and read a page."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode()

    def log_in(self, username: str, password: str) -> None:
        page = self.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "username": username, "password": password}
        )
        request = urllib.request.Request(
            self.base + "/accounts/login/",
            data=form.encode(),
            headers={"Referer": self.base + "/accounts/login/"},
        )
        with self.opener.open(request, timeout=30) as response:
            assert "/accounts/login/" not in response.url, "login failed"


@pytest.fixture
def serve(transactional_db, child_env, tmp_path):
    """Start `manage.py serve` on free ports with its own data directory."""
    processes: list[subprocess.Popen] = []
    log_path = tmp_path / "serve.log"

    def _start() -> tuple[subprocess.Popen, int, int]:
        web_port, scp_port, hl7_port = free_port(), free_port(), free_port()
        # Its own HL7 port too: the default 2575 may be taken on a real machine.
        env = child_env(DOSEMGMT_DATA_DIR=str(tmp_path / "data"), CELERY_BROKER_URL="",
                        DOSEMGMT_HL7_PORT=str(hl7_port))
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--web-port", str(web_port), "--scp-port", str(scp_port)],
            cwd=ROOT,
            env=env,
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )
        processes.append(process)

        def up() -> bool:
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{log_path.read_text()}")
            return answers(web_port) and answers(scp_port) and answers(hl7_port)

        wait_until(up, timeout=120, what=f"serve to listen on {web_port}, {scp_port} and {hl7_port}")
        return process, web_port, scp_port

    _start.log = lambda: log_path.read_text(errors="replace")
    yield _start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_serve_receives_an_rdsr_shows_its_study_on_the_web_and_stops_cleanly(serve, corpus_file):
    get_user_model().objects.create_user("mpe", password="a long test password")
    process, web_port, scp_port = serve()
    rdsr = corpus_file("CT-RDSR-ToshibaPixelMed.dcm")

    sent = subprocess.run(
        ["storescu", "-aet", "CTROOM1", "-aec", "DOSEMGMT", "127.0.0.1", str(scp_port), str(rdsr)],
        env=dict(os.environ, TCP_NODELAY="1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stderr

    received = wait_until(
        lambda: ReceivedObject.objects.filter(status=ReceivedObject.Status.DONE).first(),
        timeout=60,
        what="the in-process workers to process the RDSR",
    )
    study = Study.objects.get(pk=received.study_id)
    browser = Browser(f"http://127.0.0.1:{web_port}")
    browser.log_in("mpe", "a long test password")
    # The list is login-protected: the link is there only after a real login.
    assert study.get_absolute_url() in browser.get("/")

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    log = serve.log()
    assert f"port {scp_port}" in log and f"http://127.0.0.1:{web_port}/" in log
    assert log.rstrip().endswith("stopped"), log[-2000:]
    assert not answers(web_port) and not answers(scp_port)


def test_serve_processes_at_start_what_a_previous_run_stored_but_never_processed(serve, corpus_file):
    from ingest.services import received_object_store

    rdsr = corpus_file("DX-RDSR-Canon_CXDI.dcm")
    left = received_object_store(
        data=rdsr.read_bytes(),
        sop_instance_uid=str(pydicom.dcmread(rdsr, stop_before_pixels=True).SOPInstanceUID),
        sop_class_uid="1.2.840.10008.5.1.4.1.1.88.67",
        origin="scp",
        enqueue=False,
    ).received
    assert left.status == ReceivedObject.Status.RECEIVED

    serve()

    wait_until(
        lambda: ReceivedObject.objects.get(pk=left.pk).status == ReceivedObject.Status.DONE,
        timeout=60,
        what="serve to pick up the object left in RECEIVED",
    )
