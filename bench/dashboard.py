"""How fast are the dashboard, a timeline and a statistics table on PostgreSQL with many events?

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dm_stats_bench .venv/bin/python bench/dashboard.py \
        [--events 1000000] [--rooms 50] [--years 3]

Migrates the database, removes what an earlier run generated (devices "bench-*"
and their studies), then generates studies over `--rooms` rooms and `--years`
years in SQL (generate_series): CT studies with four sequences (a localizer
and three mapped sequences) and DX studies with two views, each mapped to a
standard procedure, 2 % non-patient. Prints the times of the three pages'
queries, computed afresh (no cache) and then from the cache. Point it at a
scratch database, never at a hospital's.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dosemgmt.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from drl import stats_selectors as sel  # noqa: E402
from drl.models import StandardProcedure  # noqa: E402

END = datetime.date(2024, 12, 31)


class _Cursor:
    """Statements without parameters take a literal % (Django formats only when given parameters)."""

    def __init__(self, cursor):
        self.cursor = cursor

    def execute(self, sql: str, params: list | None = None) -> None:
        self.cursor.execute(sql if params is not None else sql.replace("%%", "%"), params)

    def fetchone(self):
        return self.cursor.fetchone()


def generate(events: int, rooms: int, years: int) -> None:
    ct = StandardProcedure.objects.filter(modality="CT").order_by("pk").values_list("pk", flat=True)[:5]
    dx = StandardProcedure.objects.filter(modality="DX").order_by("pk").values_list("pk", flat=True)[:3]
    ct_studies = int(events * 0.8) // 4
    dx_studies = int(events * 0.2) // 2
    days = 365 * years
    ct_rooms = max(rooms * 3 // 5, 1)
    with connection.cursor() as cursor:
        c = _Cursor(cursor)
        c.execute("DELETE FROM drl_eventmapping WHERE study_id IN (SELECT s.id FROM rdsr_study s JOIN rdsr_device d "
                  "ON d.id = s.device_id WHERE d.identity_key LIKE 'bench-%%')")
        c.execute("DELETE FROM drl_studymapping WHERE study_id IN (SELECT s.id FROM rdsr_study s JOIN rdsr_device d "
                  "ON d.id = s.device_id WHERE d.identity_key LIKE 'bench-%%')")
        c.execute("DELETE FROM rdsr_irradiationevent WHERE study_id IN (SELECT s.id FROM rdsr_study s JOIN "
                  "rdsr_device d ON d.id = s.device_id WHERE d.identity_key LIKE 'bench-%%')")
        c.execute("DELETE FROM rdsr_study WHERE device_id IN (SELECT id FROM rdsr_device "
                  "WHERE identity_key LIKE 'bench-%%')")
        c.execute("DELETE FROM rdsr_device WHERE identity_key LIKE 'bench-%%'")
        c.execute(
            "INSERT INTO rdsr_device (identity_key, manufacturer, model, station_name, serial_number, "
            "software_versions, institution_name, department, device_observer_uid, display_name, ocr_template, "
            "created_at) SELECT 'bench-' || g, 'Bench', 'M', 'ST' || g, '', '', '', '', '', "
            "CASE WHEN g <= %s THEN 'CT room ' ELSE 'DX room ' END || g, '', now() FROM generate_series(1, %s) g",
            [ct_rooms, rooms],
        )
        c.execute("SELECT min(id) FROM rdsr_device WHERE identity_key LIKE 'bench-%%'")
        first = c.fetchone()[0]
        study_sql = (
            "INSERT INTO rdsr_study (study_instance_uid, accession_number, study_id, study_date, study_description,"
            " requested_procedure, procedure_reported, modality, age_years, weight_kg, patient_size_source,"
            " non_patient, non_patient_reason, non_patient_decided_by, event_count, dlp_total_mgycm,"
            " dap_total_gycm2, stated_totals, source_kind, warnings, created_at, updated_at, device_id)"
            " SELECT 'bench.{m}.' || g, '', '', %s::date - (g %% %s), 'bench', '', '', '{m}', 20 + g %% 70,"
            " CASE WHEN g %% 3 = 0 THEN NULL ELSE 40 + g %% 70 END, '', g %% 50 = 0, '', '', {n},"
            " {dlp}, {dap}, '{{}}', 'rdsr', '[]', now(), now(), %s + (g %% %s) {offset}"
            " FROM generate_series(1, %s) g"
        )
        c.execute(study_sql.format(m="CT", n=4, dlp="200 + (g * 7919 %% 600)", dap="NULL", offset=""),
                  [END, days, first, ct_rooms, ct_studies])
        c.execute(study_sql.format(m="DX", n=2, dlp="NULL", dap="0.05 + (g * 7919 %% 300) / 1000.0",
                                   offset=f"+ {ct_rooms}"), [END, days, first, max(rooms - ct_rooms, 1), dx_studies])
        for modality, procs in (("CT", list(ct)), ("DX", list(dx))):
            c.execute(
                "INSERT INTO drl_studymapping (study_id, procedure_id, source, modality, name_field, name,"
                " mapped_at, decided_by) SELECT s.id, (%s::bigint[])[1 + s.id %% %s], 'rule', s.modality, '',"
                " 'bench', now(), '' FROM rdsr_study s WHERE s.study_instance_uid LIKE %s",
                [procs, len(procs), f"bench.{modality}.%"],
            )
        c.execute(
            "INSERT INTO rdsr_irradiationevent (study_id, source_sop_instance_uid, source_kind, position,"
            " event_type, protocol, target_region, plane, comment, ctdivol_mgy, dlp_mgycm, phantom, kvp,"
            " dap_gycm2, laterality, view, details)"
            " SELECT s.id, 'sop.' || s.id, 'rdsr', p,"
            " CASE WHEN s.modality = 'CT' AND p = 1 THEN 'Constant Angle Acquisition' WHEN s.modality = 'CT'"
            " THEN 'Spiral Acquisition' ELSE 'Stationary Acquisition' END, 'P' || (s.id %% 7), '', '', '',"
            " CASE WHEN s.modality = 'CT' THEN 2 + (s.id * p %% 17) END, NULL, 'body32',"
            " CASE WHEN s.study_date < '2024-01-01' THEN 120 ELSE 100 END,"
            " CASE WHEN s.modality = 'DX' THEN 0.03 + (s.id * p %% 100) / 1000.0 END, '', '',"
            " CASE WHEN s.id %% 997 = 0 THEN '{\"review\": [\"ctdivol_mgy\"]}'::jsonb ELSE '{}'::jsonb END"
            " FROM rdsr_study s CROSS JOIN generate_series(1, CASE WHEN s.modality = 'CT' THEN 4 ELSE 2 END) p"
            " WHERE s.study_instance_uid LIKE 'bench.%%'"
        )
        c.execute(
            "INSERT INTO drl_eventmapping (event_id, study_id, procedure_id, source, name, mapped_at)"
            " SELECT e.id, e.study_id, CASE WHEN e.position > 1 THEN sm.procedure_id END,"
            " CASE WHEN e.position > 1 THEN 'study' ELSE 'none' END, e.protocol, now()"
            " FROM rdsr_irradiationevent e JOIN rdsr_study s ON s.id = e.study_id"
            " JOIN drl_studymapping sm ON sm.study_id = s.id WHERE s.modality = 'CT'"
            " AND s.study_instance_uid LIKE 'bench.%%'"
        )
        c.execute("ANALYZE")
        c.execute("SELECT count(*) FROM rdsr_irradiationevent e JOIN rdsr_study s ON s.id = e.study_id"
                  " WHERE s.study_instance_uid LIKE 'bench.%%'")
        print(f"generated {c.fetchone()[0]} events in {ct_studies + dx_studies} studies over {rooms} rooms")


def timed(label: str, fn) -> None:
    times = []
    for _ in range(3):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    size = len(result) if hasattr(result, "__len__") else len(result.series)
    print(f"  {label:<44} best {min(times):6.3f} s  worst {max(times):6.3f} s  ({size} rows/series)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--no-generate", action="store_true", help="measure what an earlier run generated")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("point DATABASE_URL at a scratch PostgreSQL database")
    call_command("migrate", verbosity=0)
    if not args.no_generate:
        t = time.perf_counter()
        generate(args.events, args.rooms, args.years)
        print(f"generation {time.perf_counter() - t:.1f} s")
    procedure = StandardProcedure.objects.filter(modality="CT").order_by("pk").first()
    year = sel.StatsFilter(date_from=END - datetime.timedelta(days=364), date_to=END)
    everything = sel.StatsFilter(date_from=END - datetime.timedelta(days=365 * args.years), date_to=END)
    pages = [
        ("dashboard (1 year, all procedures × rooms)", lambda c: sel.stat_rows(year, period="all", use_cache=c)),
        ("timeline (3 years monthly, CT CTDIvol)", lambda c: sel.timeline(
            sel.StatsFilter(date_from=everything.date_from, date_to=END, procedure_id=procedure.pk,
                            quantity="ctdivol"), use_cache=c)),
        ("statistics table (3 years by quarter)", lambda c: sel.stat_rows(everything, period="quarter",
                                                                            use_cache=c)),
        ("exclusions line (1 year)", lambda c: [sel.exclusions(year)]),
    ]
    print("computed afresh (no cache):")
    for label, fn in pages:
        timed(label, lambda fn=fn: fn(False))
    print("from the cache (repeat views within STATS_CACHE_SECONDS, data unchanged):")
    for label, fn in pages[:3]:
        fn(True)
        timed(label, lambda fn=fn: fn(True))


if __name__ == "__main__":
    main()
