"""How fast does the worker side process received objects, alone and in batches?

    .venv/bin/python bench/store.py [--count 500] [--batch 1,10,50]
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... .venv/bin/python bench/store.py

Generates COUNT distinct small RDSRs (as bench/ingest.py does), records them as
received (spool + row, no network, no enqueue), then for each batch size:
  inline  processes them here with `received_objects_process`: wall and CPU
          time per object and SQL statements per object (this process only;
          the database's own CPU is not in it);
  celery  (with CELERY_BROKER_URL) enqueues them with `enqueue_processing_many`
          to a real `celery worker -c WORKERS`: objects/s until all are done.
Prints figures, asserts nothing. Writes only rows of the objects it generates;
point DATABASE_URL at a scratch database.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
bench_ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_ingest)


def _receive_all(directory: Path) -> list[int]:
    from pydicom import dcmread

    from ingest.services import received_object_store

    ids = []
    for path in sorted(directory.iterdir()):
        data = path.read_bytes()
        ds = dcmread(
            io.BytesIO(data), stop_before_pixels=True, specific_tags=["SOPInstanceUID", "SOPClassUID"]
        )
        ids.append(
            received_object_store(
                data=data,
                sop_instance_uid=ds.SOPInstanceUID,
                sop_class_uid=ds.SOPClassUID,
                origin="import",
                enqueue=False,
            ).received.pk
        )
    return ids


def _chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def bench_inline(ids: list[int], batch: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ingest.services import received_objects_process

    wall, cpu = time.perf_counter(), time.process_time()
    with CaptureQueriesContext(connection) as queries:
        for chunk in _chunks(ids, batch):
            received_objects_process(received_object_ids=chunk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = len(ids)
    print(
        f"inline, batches of {batch:3d}: {n / wall:7.1f} objects/s, {1000 * wall / n:6.2f} ms wall and "
        f"{1000 * cpu / n:6.2f} ms CPU per object, {len(queries) / n:6.2f} SQL statements per object"
    )


def bench_celery(ids: list[int], batch: int, workers: int) -> None:

    from ingest.dispatch import enqueue_processing_many
    from ingest.models import ReceivedObject

    with bench_ingest.celery_worker(workers):
        start = time.perf_counter()
        for chunk in _chunks(ids, batch):
            enqueue_processing_many(chunk)
        open_states = [ReceivedObject.Status.RECEIVED, ReceivedObject.Status.PROCESSING]
        rows = ReceivedObject.objects.filter(pk__in=ids, status__in=open_states)
        while rows.exists():
            time.sleep(0.02)
        seconds = time.perf_counter() - start
    print(f"celery -c {workers}, batches of {batch:3d}: {len(ids) / seconds:7.1f} objects/s")


def main() -> None:
    import os
    import tempfile

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--batch", default="1,10,50", help="comma-separated batch sizes")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    bench_ingest._setup_django()
    from django.conf import settings

    print(
        f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}; "
        f"broker {settings.CELERY_BROKER_URL or '-'}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="dm-bench-store-") as tmp:
        for batch in [int(b) for b in args.batch.split(",")]:
            directory = Path(tmp) / f"inline-{batch}"
            bench_ingest.generate(directory, args.count, f"SI{batch}")
            bench_inline(_receive_all(directory), batch)
            if settings.CELERY_BROKER_URL:
                directory = Path(tmp) / f"celery-{batch}"
                bench_ingest.generate(directory, args.count, f"SC{batch}")
                bench_celery(_receive_all(directory), batch, args.workers)


if __name__ == "__main__":
    main()
