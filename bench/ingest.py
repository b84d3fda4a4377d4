"""How fast do dose reports get in? Run by hand; prints figures, asserts nothing.

    .venv/bin/python bench/ingest.py [--count 500]
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... .venv/bin/python bench/ingest.py

Generates COUNT distinct small RDSRs from corpus RDSRs (new UIDs), then measures
in one run, objects/s over one association sent by dcmtk `storescu`:
  1. dcmtk storescp (the machine's ceiling),
  2. a bare pynetdicom SCP whose handler discards,
  3. our SCP storing durably (spool + row), processing deferred,
  4. end to end into the database: embedded (in-process workers) and, with
     CELERY_BROKER_URL set, through a real Celery worker subprocess,
  5. `rdsr.parse.parse_file` time per object.
Rows it writes are the generated objects only (fresh UIDs each run); without
DOSEMGMT_DATA_DIR it works in a temporary directory (SQLite there).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = Path(os.environ.get("DOSEMGMT_CORPUS_DIR", ROOT.parent / "shared" / "corpus")) / "dicom"
# Small X-Ray Radiation Dose SRs of several kinds (about 9-25 kB).
TEMPLATES = [
    "CT-RDSR-Siemens-Multi-1.dcm",
    "CT-RDSR-GEPixelMed.dcm",
    "DX-RDSR-Canon_CXDI.dcm",
    "CT-RDSR-ToshibaPixelMed.dcm",
    "MG-RDSR-Hologic_2D.dcm",
    "CT-RDSR-Siemens_Flash-TAP-SS.dcm",
]
IRRADIATION_EVENT_UID = "113769"


def _setup_django() -> None:
    if not os.environ.get("DOSEMGMT_DATA_DIR"):
        os.environ["DOSEMGMT_DATA_DIR"] = tempfile.mkdtemp(prefix="dm-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dosemgmt.settings")
    os.environ.setdefault("DOSEMGMT_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def generate(out_dir: Path, count: int, tag: str) -> list[str]:
    """Write `count` RDSRs with fresh study, series, instance and event UIDs."""
    import pydicom
    from pydicom.uid import generate_uid

    out_dir.mkdir(parents=True, exist_ok=True)
    templates = [pydicom.dcmread(CORPUS / name) for name in TEMPLATES]
    uids = []
    for i in range(count):
        ds = templates[i % len(templates)]
        ds.StudyInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.AccessionNumber = f"B{tag}{i:06d}"
        _renew_event_uids(ds)
        ds.save_as(out_dir / f"{i:06d}.dcm")
        uids.append(str(ds.SOPInstanceUID))
    return uids


def _renew_event_uids(ds) -> None:
    from pydicom.uid import generate_uid

    for item in ds.get("ContentSequence", []):
        concept = item.get("ConceptNameCodeSequence")
        if concept and concept[0].CodeValue == IRRADIATION_EVENT_UID and "UID" in item:
            item.UID = generate_uid()
        _renew_event_uids(item)


def storescu(port: int, directory: Path) -> float:
    """Send every file of `directory` in one association; return seconds."""
    env = dict(os.environ, TCP_NODELAY="1")
    start = time.perf_counter()
    subprocess.run(
        [
            "storescu",
            "-aet",
            "BENCH",
            "-aec",
            "DOSEMGMT",
            "+sd",
            "-nh",
            "127.0.0.1",
            str(port),
            str(directory),
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.1f} objects/s  ({seconds:6.2f} s for {count})"


def bench_dcmtk(directory: Path, count: int) -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="dm-bench-storescp-") as out:
        proc = subprocess.Popen(
            ["storescp", "-od", out, str(port)],
            env=dict(os.environ, TCP_NODELAY="1"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(port)
            seconds = storescu(port, directory)
        finally:
            proc.terminate()
            proc.wait()
        received = len(os.listdir(out))
    print(f"1. dcmtk storescp <- storescu:          {rate(count, seconds)}  [{received} files written]")


def bench_bare_pynetdicom(directory: Path, count: int) -> None:
    from pynetdicom import AE, evt

    from ingest.scp import supported_contexts

    received = []

    def discard(event) -> int:
        received.append(event.encoded_dataset())
        return 0x0000

    ae = AE(ae_title="DOSEMGMT")
    ae.supported_contexts = supported_contexts()
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, discard)])
    try:
        seconds = storescu(server.server_address[1], directory)
    finally:
        server.shutdown()
    print(f"2. bare pynetdicom SCP (discards):      {rate(count, seconds)}  [{len(received)} received]")


def bench_our_scp(directory: Path, uids: list[str]) -> None:
    from ingest import scp
    from ingest.models import ReceivedObject

    # Time spent inside our handler, to tell our cost from pynetdicom's.
    in_handler: list[float] = []
    handle_store = scp.handle_store

    def timed(event, writer):
        start = time.perf_counter()
        try:
            return handle_store(event, writer)
        finally:
            in_handler.append(time.perf_counter() - start)

    scp.handle_store = timed
    try:
        server = scp.scp_start(config=scp.ScpConfig(bind_address="127.0.0.1", port=0, enqueue=False))
        try:
            start = time.perf_counter()
            seconds = storescu(server.server_address[1], directory)
            # Rows follow the answers in batches; how far behind they are.
            scp.scp_wait_registered(server)
            registered = time.perf_counter() - start
        finally:
            scp.scp_stop(server)
    finally:
        scp.handle_store = handle_store
    stored = ReceivedObject.objects.filter(sop_instance_uid__in=uids).count()
    print(
        f"3. our SCP, durable store only:         {rate(len(uids), seconds)}  [{stored} rows, all registered "
        f"{registered - seconds:.2f} s after the last answer; "
        f"{1000 * sum(in_handler) / max(1, len(in_handler)):.2f} ms per object in the C-STORE handler]"
    )


def _wait_processed(uids: list[str], timeout: float) -> tuple[int, dict[str, int]]:
    from django.db.models import Count

    from ingest.models import ReceivedObject

    open_states = [ReceivedObject.Status.RECEIVED, ReceivedObject.Status.PROCESSING]
    deadline = time.monotonic() + timeout
    rows = ReceivedObject.objects.filter(sop_instance_uid__in=uids)
    while time.monotonic() < deadline:
        if rows.count() == len(uids) and not rows.filter(status__in=open_states).exists():
            break
        time.sleep(0.05)
    by_status = dict(rows.values_list("status").annotate(n=Count("id")))
    return rows.count(), by_status


@contextlib.contextmanager
def celery_worker(concurrency: int) -> Iterator[None]:
    """A real `celery worker` subprocess on the ingest queue, connected before the figure starts."""
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "dosemgmt", "worker", "-Q", "ingest",
            "-c", str(concurrency), "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(3)  # let the worker connect; not part of the figure
        yield
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def _send_and_wait(directory: Path, uids: list[str]) -> tuple[float, int, dict[str, int], float]:
    """Send the objects to our SCP and wait until all are processed: (sending s, rows, statuses, total s)."""
    from ingest.scp import ScpConfig, scp_start, scp_stop

    server = scp_start(config=ScpConfig(bind_address="127.0.0.1", port=0))
    start = time.perf_counter()
    try:
        sent = storescu(server.server_address[1], directory)
        rows, by_status = _wait_processed(uids, timeout=600)
        seconds = time.perf_counter() - start
    finally:
        scp_stop(server)
    return sent, rows, by_status, seconds


def bench_end_to_end_embedded(directory: Path, uids: list[str], workers: int) -> None:
    from django.test import override_settings

    from ingest.dispatch import start_inprocess_workers, stop_inprocess_workers

    with override_settings(CELERY_BROKER_URL=None):
        start_inprocess_workers(workers)
        try:
            sent, rows, by_status, seconds = _send_and_wait(directory, uids)
        finally:
            stop_inprocess_workers()
    print(
        f"4a. end to end, {workers} in-process workers: {rate(len(uids), seconds)}"
        f"  [sending took {sent:.2f} s; {rows} rows: {by_status}]"
    )


def bench_end_to_end_celery(directory: Path, uids: list[str], concurrency: int) -> None:
    with celery_worker(concurrency):
        sent, rows, by_status, seconds = _send_and_wait(directory, uids)
    print(
        f"4b. end to end, Celery worker -c {concurrency}:  {rate(len(uids), seconds)}"
        f"  [sending took {sent:.2f} s; {rows} rows: {by_status}]"
    )


def bench_parse(directory: Path) -> None:
    from rdsr.parse import parse_file

    files = sorted(directory.iterdir())
    start = time.perf_counter()
    for path in files:
        parse_file(str(path))
    seconds = time.perf_counter() - start
    print(
        f"5. rdsr.parse.parse_file:               {1000 * seconds / len(files):8.2f} ms per object ({len(files)} objects)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2, help="in-process workers / Celery concurrency")
    parser.add_argument("--only", help="comma-separated phases to run (1,2,3,4,5)")
    args = parser.parse_args()
    phases = set((args.only or "1,2,3,4,5").split(","))

    _setup_django()
    from django.conf import settings

    db = settings.DATABASES["default"]
    print(
        f"database {db['ENGINE'].rsplit('.', 1)[-1]} {db['NAME']}; broker {settings.CELERY_BROKER_URL or '-'}; "
        f"{os.cpu_count()} CPUs; {args.count} objects per phase"
    )
    work = Path(tempfile.mkdtemp(prefix="dm-bench-objects-"))
    try:
        ref = work / "reference"
        generate(ref, args.count, "R")
        if "1" in phases:
            bench_dcmtk(ref, args.count)
        if "2" in phases:
            bench_bare_pynetdicom(ref, args.count)
        if "3" in phases:
            uids = generate(work / "store", args.count, "S")
            bench_our_scp(work / "store", uids)
        if "4" in phases:
            uids = generate(work / "embedded", args.count, "E")
            bench_end_to_end_embedded(work / "embedded", uids, args.workers)
            if settings.CELERY_BROKER_URL:
                uids = generate(work / "celery", args.count, "C")
                bench_end_to_end_celery(work / "celery", uids, args.workers)
            else:
                print("4b. end to end with Celery: skipped (CELERY_BROKER_URL not set)")
        if "5" in phases:
            bench_parse(ref)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
