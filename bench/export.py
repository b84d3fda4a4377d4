"""How fast, and in how much memory, does a list of irradiation events go to CSV?

    .venv/bin/python bench/export.py [--count 1000000] [--per-study 10]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dm_bench .venv/bin/python bench/export.py

Generates COUNT irradiation events (PER-STUDY per study, ten rooms, bulk
inserted), then exports them all through the export job's code path
(`exports.services.list_export` + `exports.columns.write_csv`, the same as a
background job) and prints the seconds and the peak memory of this process.
Goal: 1 000 000 events in under 60 s and under 300 MB. Asserts nothing.
Without DOSEMGMT_DATA_DIR it works in a new temporary directory (SQLite); with a
DATABASE_URL it adds rows to that database after migrating it: point it at a
scratch database, never at a hospital's.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def _generate(count: int, per_study: int) -> tuple[int, int]:
    import datetime

    from django.db import connection, transaction

    from rdsr.models import Device, IrradiationEvent, Study

    run = uuid.uuid4().hex[:12]
    devices = Device.objects.bulk_create(
        Device(identity_key=f"bench-{run}-{i}", station_name=f"CT{i}", display_name=f"Bench CT {i}")
        for i in range(10)
    )
    studies = (count + per_study - 1) // per_study
    start = datetime.date(2024, 1, 1)
    for offset in range(0, studies, 10_000):
        batch = [
            Study(
                study_instance_uid=f"2.25.{run}.{n}",
                device=devices[n % 10],
                accession_number=f"B{n}",
                study_date=start + datetime.timedelta(days=n % 365),
                modality="CT",
                event_count=per_study,
                dlp_total_mgycm=100.0 + n % 900,
            )
            for n in range(offset, min(studies, offset + 10_000))
        ]
        Study.objects.bulk_create(batch)
    study_ids = list(
        Study.objects.filter(study_instance_uid__startswith=f"2.25.{run}.").order_by("pk").values_list("pk", flat=True)
    )
    table = IrradiationEvent._meta.db_table
    columns = ["study_id", "irradiation_event_uid", "source_sop_instance_uid", "source_kind", "position",
               "datetime_started", "event_type", "protocol", "target_region", "plane", "comment", "phantom",
               "laterality", "view", "details", "ctdivol_mgy", "dlp_mgycm", "kvp", "tube_current_ma",
               "exposure_time_s", "pitch", "scanning_length_mm"]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    when = datetime.datetime(2024, 1, 1, 9, 0, tzinfo=datetime.UTC)
    rows = []
    made = 0
    with connection.cursor() as cursor:
        for i in range(count):
            study = study_ids[i // per_study]
            position = i % per_study + 1
            rows.append((study, f"2.25.{run}.e{i}", f"2.25.{run}.s{study}", "rdsr", position, when,
                         "Spiral Acquisition", "Head routine", "Head", "", "", "head16", "", "", "{}",
                         10.0 + i % 50, 200.0 + i % 700, 120.0, 250.0, 1.0, 0.8, 150.0))
            if len(rows) == 20_000:
                with transaction.atomic():
                    cursor.executemany(sql, rows)
                made += len(rows)
                rows = []
        if rows:
            with transaction.atomic():
                cursor.executemany(sql, rows)
            made += len(rows)
    return made, len(study_ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--per-study", type=int, default=10)
    args = parser.parse_args()
    if not os.environ.get("DOSEMGMT_DATA_DIR"):
        os.environ["DOSEMGMT_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-export-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dosemgmt.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from exports import columns
    from exports.selectors import ListFilters
    from exports.services import list_export

    db = settings.DATABASES["default"]
    print(f"database: {db['ENGINE'].rsplit('.', 1)[-1]} {db['NAME']}")
    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    events, studies = _generate(args.count, args.per_study)
    print(f"generated {events} events in {studies} studies in {time.perf_counter() - t0:.1f} s")

    out = Path(tempfile.mkdtemp(prefix="bench-export-out-")) / "events.csv"
    before = _maxrss_mb()
    t0 = time.perf_counter()
    export = list_export(kind="events", filters=ListFilters(), count=True)
    written = 0

    def counted(rows):
        nonlocal written
        for row in rows:
            written += 1
            yield row

    columns.write_csv(out, export.headers, counted(export.rows))
    seconds = time.perf_counter() - t0
    after = _maxrss_mb()
    size = out.stat().st_size / 1e6
    print(f"exported {written} events to CSV ({size:.0f} MB, {len(export.headers)} columns) in {seconds:.1f} s "
          f"= {written / seconds:,.0f} rows/s")
    print(f"peak memory (maxrss) of this process: {after:.0f} MB (before the export {before:.0f} MB)")
    print(f"goal: under 60 s and under 300 MB -> {'met' if seconds < 60 and after < 300 else 'NOT met'}")
    out.unlink()


if __name__ == "__main__":
    main()
