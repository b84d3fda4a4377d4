"""Reads of the statistics pages: dose samples per procedure, room and period, aggregated in SQL.

A *sample* is one value of a DRL quantity at its level (DOMAIN.md §7):
- CT: CTDIvol per sequence (the CT event's own procedure, EventMapping; localizers
  have none), DLP per exam (Study.dlp_total_mgycm, the study's procedure);
- radiography (DX): DAP per exam;
- fluoroscopy / interventional (RF, XA): DAP, fluoroscopy time and number of
  images (frames of all planes) per exam, Ka,r per exam of the single plane or
  of plane A (Ka,r of two planes is never added);
- mammography: AGD per view (event).
Only patient studies (the ``non_patient`` rule of rdsr.selectors.patient_studies)
with a room, mapped to a procedure of the quantity's modality, and only events of
the study's best source kind; an event value in review (unknown or implausible
unit, OCR) is left out, as are study totals, which rdsr already blanks.

PostgreSQL aggregates in SQL (``percentile_cont``: linear interpolation, the
definition of drl.statistics); other databases fetch the samples and aggregate
with pandas (drl.statistics.summary_frame). Results are cached for
STATS_CACHE_SECONDS keyed on the filter and on a cheap fingerprint of the data.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import asdict, dataclass, field

import pandas as pd
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Max, Q, QuerySet

from rdsr.models import Device, IrradiationEvent, Patient, PlaneAccumulation, Study

from . import statistics as st
from .models import QUANTITIES, DrlValue, EventMapping, StandardProcedure, StudyMapping
from .selectors import drl_applicable

STATS_CACHE_SECONDS = 300

# procedure modality -> quantities with a DRL meaning, first the one the dashboard shows by default.
MODALITY_QUANTITIES = {
    "CT": ["dlp", "ctdivol"],
    "DX": ["dap"],
    "RF": ["dap", "kar", "fluoro_time", "images"],
    "XA": ["dap", "kar", "fluoro_time", "images"],
    "MG": ["agd"],
}
QUANTITY_LEVEL = {
    "ctdivol": "sequence",
    "dlp": "exam",
    "dap": "exam",
    "kar": "exam",
    "fluoro_time": "exam",
    "images": "exam",
    "agd": "view",
}
PERIODS = {"all": "Whole range", "year": "Year", "quarter": "Quarter", "month": "Month"}


@dataclass(frozen=True)
class StatsFilter:
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    modality: str = ""
    device_ids: tuple[int, ...] = ()
    procedure_id: int | None = None
    quantity: str = ""
    standard_size: bool = False
    min_n: int = st.MIN_SAMPLE_DEFAULT
    period: str = "all"

    def key(self) -> str:
        data = asdict(self)
        return hashlib.sha1(json.dumps(data, default=str, sort_keys=True).encode()).hexdigest()


def _tables() -> dict[str, str]:
    return {
        "s": Study._meta.db_table,
        "e": IrradiationEvent._meta.db_table,
        "p": PlaneAccumulation._meta.db_table,
        "sm": StudyMapping._meta.db_table,
        "em": EventMapping._meta.db_table,
        "sp": StandardProcedure._meta.db_table,
    }


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _not_in_review(column: str) -> str:
    """SQL: the event's details["review"] does not list ``column`` (a literal field name)."""
    if _postgres():
        return f"NOT coalesce(jsonb_exists(e.details -> 'review', '{column}'), false)"
    return f"NOT EXISTS (SELECT 1 FROM json_each(e.details, '$.review') j WHERE j.value = '{column}')"


def _common(f: StatsFilter) -> tuple[str, list]:
    where = ["s.non_patient = %s", "s.device_id IS NOT NULL"]
    params: list = [False]
    if f.date_from:
        where.append("s.study_date >= %s")
        params.append(f.date_from)
    if f.date_to:
        where.append("s.study_date <= %s")
        params.append(f.date_to)
    if f.device_ids:
        where.append(f"s.device_id IN ({', '.join(['%s'] * len(f.device_ids))})")
        params.extend(f.device_ids)
    if f.standard_size:
        where.append("(s.weight_kg IS NULL OR (s.weight_kg >= %s AND s.weight_kg <= %s))")
        params.extend(st.STANDARD_WEIGHT_KG)
    return " AND ".join(where), params


_SELECT = "{proc} AS procedure_id, s.device_id AS device_id, s.id AS study_id, {event} AS event_id, " \
    "'{quantity}' AS quantity, {value} AS value, s.study_date AS study_date, {kvp} AS kvp"


def _sample_queries(f: StatsFilter) -> tuple[str, list]:
    """One SELECT per quantity wanted, joined by UNION ALL: the samples of the filter."""
    t = _tables()
    common, common_params = _common(f)
    modalities = [f.modality] if f.modality else list(MODALITY_QUANTITIES)
    parts: list[str] = []
    params: list = []

    def proc_filter(alias: str) -> tuple[str, list]:
        if f.procedure_id:
            return f" AND {alias}.procedure_id = %s", [f.procedure_id]
        return f" AND {alias}.procedure_id IS NOT NULL", []

    for modality in modalities:
        for quantity in MODALITY_QUANTITIES.get(modality, []):
            if f.quantity and quantity != f.quantity:
                continue
            if quantity == "ctdivol":
                pf, pp = proc_filter("em")
                sql = (
                    "SELECT " + _SELECT.format(proc="em.procedure_id", event="e.id", quantity=quantity,
                                               value="e.ctdivol_mgy", kvp="e.kvp")
                    + f" FROM {t['e']} e JOIN {t['em']} em ON em.event_id = e.id"
                    f" JOIN {t['s']} s ON s.id = e.study_id JOIN {t['sp']} sp ON sp.id = em.procedure_id"
                    f" WHERE sp.modality = %s AND e.ctdivol_mgy IS NOT NULL AND e.source_kind = s.source_kind"
                    f" AND {_not_in_review('ctdivol_mgy')} AND {common}{pf}"
                )
                parts.append(sql)
                params += [modality, *common_params, *pp]
                continue
            pf, pp = proc_filter("sm")
            joins = (
                f" JOIN {t['sm']} sm ON sm.study_id = s.id JOIN {t['sp']} sp ON sp.id = sm.procedure_id"
            )
            if quantity == "agd":
                select = _SELECT.format(proc="sm.procedure_id", event="e.id", quantity=quantity,
                                        value="e.agd_mgy", kvp="e.kvp")
                source = f" FROM {t['e']} e JOIN {t['s']} s ON s.id = e.study_id{joins}"
                extra = f" AND e.agd_mgy IS NOT NULL AND e.source_kind = s.source_kind AND {_not_in_review('agd_mgy')}"
            elif quantity == "kar":
                select = _SELECT.format(proc="sm.procedure_id", event="NULL", quantity=quantity,
                                        value="p.dose_rp_total_mgy", kvp="NULL")
                source = f" FROM {t['p']} p JOIN {t['s']} s ON s.id = p.study_id{joins}"
                extra = " AND p.dose_rp_total_mgy IS NOT NULL AND p.plane IN ('single', 'A')"
            elif quantity == "images":
                select = _SELECT.format(proc="sm.procedure_id", event="NULL", quantity=quantity,
                                        value="fr.frames", kvp="NULL")
                source = (
                    f" FROM (SELECT study_id, SUM(frames_total) AS frames FROM {t['p']}"
                    " WHERE frames_total IS NOT NULL GROUP BY study_id) fr"
                    f" JOIN {t['s']} s ON s.id = fr.study_id{joins}"
                )
                extra = ""
            else:
                column = {"dlp": "dlp_total_mgycm", "dap": "dap_total_gycm2",
                          "fluoro_time": "fluoro_time_total_s"}[quantity]
                select = _SELECT.format(proc="sm.procedure_id", event="NULL", quantity=quantity,
                                        value=f"s.{column}", kvp="NULL")
                source = f" FROM {t['s']} s{joins}"
                extra = f" AND s.{column} IS NOT NULL"
            parts.append(f"SELECT {select}{source} WHERE sp.modality = %s{extra} AND {common}{pf}")
            params += [modality, *common_params, *pp]
    if not parts:
        return "", []
    return " UNION ALL ".join(parts), params


def _period_sql(period: str) -> str:
    if period == "all":
        return "NULL"
    if _postgres():
        return f"date_trunc('{period}', study_date)::date"
    return {
        "year": "strftime('%%Y-01-01', study_date)",
        "month": "strftime('%%Y-%%m-01', study_date)",
        "quarter": "printf('%%s-%%02d-01', strftime('%%Y', study_date), "
        "((CAST(strftime('%%m', study_date) AS INTEGER) - 1) / 3) * 3 + 1)",
    }[period]


def _as_date(value) -> datetime.date | None:
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value)[:10])


def samples(f: StatsFilter) -> pd.DataFrame:
    """The samples themselves (columns procedure_id, device_id, study_id, event_id, quantity, value,
    study_date, kvp)."""
    sql, params = _sample_queries(f)
    columns = ["procedure_id", "device_id", "study_id", "event_id", "quantity", "value", "study_date", "kvp"]
    if not sql:
        return pd.DataFrame(columns=columns)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    frame = pd.DataFrame(rows, columns=columns)
    frame["study_date"] = frame["study_date"].map(_as_date)
    return frame


def _summaries(f: StatsFilter, *, value: str = "value", period: str | None = None) -> list[dict]:
    """Summary rows per procedure, room, quantity and period of the filter."""
    period = period or f.period
    sql, params = _sample_queries(f)
    if not sql:
        return []
    if _postgres():
        agg = (
            f"SELECT procedure_id, device_id, quantity, {_period_sql(period)} AS period, count({value}),"
            f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {value}), avg({value}), min({value}),"
            f" max({value}), stddev_samp({value}), percentile_cont(0.75) WITHIN GROUP (ORDER BY {value})"
            f" FROM ({sql}) x WHERE {value} IS NOT NULL GROUP BY 1, 2, 3, 4"
        )
        with connection.cursor() as cursor:
            cursor.execute(agg, params)
            rows = cursor.fetchall()
        keys = ["procedure_id", "device_id", "quantity", "period", *st.SUMMARY_COLUMNS]
        out = [dict(zip(keys, r, strict=True)) for r in rows]
    else:
        frame = samples(f)
        if period == "all":
            frame["period"] = None
        else:
            dates = pd.to_datetime(frame["study_date"])
            frame["period"] = dates.dt.to_period({"year": "Y", "quarter": "Q", "month": "M"}[period]).map(
                lambda p: p.start_time.date() if not pd.isna(p) else None
            )
        frame["period"] = frame["period"].astype(object)
        table = st.summary_frame(frame, ["procedure_id", "device_id", "quantity", "period"], value=value)
        out = table.to_dict("records")
    for row in out:
        row["period"] = _as_date(row["period"])
        for k in ("median", "mean", "min", "max", "sd", "p75"):
            row[k] = float(row[k]) if row[k] is not None else None
        row["n"] = int(row["n"])
    return out


def _fingerprint() -> str:
    """Changes whenever a study or a mapping changes (cheap: three MAX and a COUNT)."""
    parts = [
        Study.objects.aggregate(m=Max("updated_at"), c=Max("id")),
        StudyMapping.objects.aggregate(m=Max("mapped_at")),
        EventMapping.objects.aggregate(m=Max("mapped_at")),
        DrlValue.objects.aggregate(c=Max("id")),
    ]
    return hashlib.sha1(json.dumps(parts, default=str).encode()).hexdigest()


def _cached(name: str, f: StatsFilter, compute, *, use_cache: bool = True):
    if not use_cache:
        return compute()
    key = f"drl-stats:{name}:{f.key()}:{_fingerprint()}"
    found = cache.get(key)
    if found is None:
        found = compute()
        cache.set(key, found, STATS_CACHE_SECONDS)
    return found


# ------------------------------------------------------------------ what the pages read


@dataclass
class StatRow:
    procedure: StandardProcedure
    device: Device
    quantity: str
    period: datetime.date | None
    n: int
    median: float | None
    mean: float | None
    min: float | None
    max: float | None
    sd: float | None
    p75: float | None
    drl: DrlValue | None = None
    min_n: int = st.MIN_SAMPLE_DEFAULT

    @property
    def enough(self) -> bool:
        return self.n >= self.min_n

    @property
    def unit(self) -> str:
        return QUANTITIES[self.quantity][1]

    @property
    def quantity_label(self) -> str:
        return QUANTITIES[self.quantity][0]

    @property
    def ratio(self) -> float | None:
        return st.ratio(self.median, self.drl.value if self.drl else None)

    @property
    def compliance(self) -> str:
        return st.compliance(self.median, self.drl.value if self.drl else None, n=self.n, min_n=self.min_n)

    @property
    def ratio_class(self) -> str:
        return st.ratio_class(self.ratio) if self.enough else "r-none"


def drl_for(procedure: StandardProcedure, quantity: str, on_date: datetime.date) -> DrlValue | None:
    """The DRL that applies to a procedure's quantity (adults, best set first); CTDIvol any phantom."""
    found = drl_applicable(
        procedure=procedure, quantity=quantity, on_date=on_date, level=QUANTITY_LEVEL.get(quantity, "")
    )
    found = [v for v in found if v.weight_min_kg is None and v.thickness_min_mm is None] or found
    return found[0] if found else None


def stat_rows(f: StatsFilter, *, period: str | None = None, use_cache: bool = True) -> list[StatRow]:
    """Statistics per procedure × room × quantity × period, each with its applicable DRL."""
    raw = _cached(f"rows-{period or f.period}", f, lambda: _summaries(f, period=period), use_cache=use_cache)
    procedures = StandardProcedure.objects.in_bulk({r["procedure_id"] for r in raw})
    devices = Device.objects.in_bulk({r["device_id"] for r in raw})
    on_date = f.date_to or datetime.date.today()
    drls: dict[tuple[int, str], DrlValue | None] = {}
    rows = []
    for r in raw:
        procedure = procedures[r["procedure_id"]]
        k = (procedure.pk, r["quantity"])
        if k not in drls:
            drls[k] = drl_for(procedure, r["quantity"], on_date)
        rows.append(
            StatRow(
                procedure=procedure, device=devices[r["device_id"]], drl=drls[k], min_n=f.min_n,
                **{key: r[key] for key in ("quantity", "period", *st.SUMMARY_COLUMNS)},
            )
        )
    rows.sort(key=lambda r: (r.procedure.modality, r.procedure.name,
                             MODALITY_QUANTITIES.get(r.procedure.modality, []).index(r.quantity)
                             if r.quantity in MODALITY_QUANTITIES.get(r.procedure.modality, []) else 9,
                             str(r.device), r.period or datetime.date.min))
    return rows


@dataclass
class Exclusions:
    non_patient_studies: int
    values_in_review: int
    no_room: int


def exclusions(f: StatsFilter) -> Exclusions:
    """What the statistics leave out in the date range: non-patient studies, event values in review."""
    studies = Study.objects.all()
    if f.date_from:
        studies = studies.filter(study_date__gte=f.date_from)
    if f.date_to:
        studies = studies.filter(study_date__lte=f.date_to)
    if f.modality:
        studies = studies.filter(modality=f.modality)
    if f.device_ids:
        studies = studies.filter(device_id__in=f.device_ids)
    counts = studies.aggregate(
        n_non_patient=_count(Q(non_patient=True)),
        n_no_room=_count(Q(device__isnull=True, non_patient=False)),
    )
    t = _tables()
    where, params = _common(f)
    review = (
        "jsonb_array_length(coalesce(e.details -> 'review', '[]'::jsonb)) > 0"
        if _postgres()
        else "coalesce(json_array_length(e.details, '$.review'), 0) > 0"
    )
    if f.modality:
        where += " AND s.modality = %s"
        params.append(f.modality)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {t['e']} e JOIN {t['s']} s ON s.id = e.study_id WHERE {review} AND {where}",
            params,
        )
        in_review = cursor.fetchone()[0]
    return Exclusions(counts["n_non_patient"], in_review, counts["n_no_room"])


def _count(condition: Q) -> Count:
    return Count("id", filter=condition)


@dataclass
class Timeline:
    months: list[datetime.date]
    # device -> [(month, median, n)]
    series: dict[Device, list[tuple[datetime.date, float | None, int]]]
    changes: dict[Device, list[tuple[datetime.date, float, float]]] = field(default_factory=dict)
    drl: DrlValue | None = None


def timeline(f: StatsFilter, *, use_cache: bool = True) -> Timeline:
    """Monthly medians per room of one procedure's quantity, with kVp changes (CT, mammography)."""
    rows = stat_rows(f, period="month", use_cache=use_cache)
    series: dict[Device, list] = {}
    for r in rows:
        series.setdefault(r.device, []).append((r.period, r.median, r.n))
    changes: dict[Device, list] = {}
    if f.quantity in ("ctdivol", "agd"):
        kvp = _cached("kvp", f, lambda: _summaries(f, value="kvp", period="month"), use_cache=use_cache)
        devices = {d.pk: d for d in series}
        by_device: dict[int, list] = {}
        for r in sorted(kvp, key=lambda r: r["period"]):
            by_device.setdefault(r["device_id"], []).append((r["period"], r["median"]))
        for device_id, monthly in by_device.items():
            if device_id in devices:
                changes[devices[device_id]] = st.technique_changes(monthly)
    months = sorted({m for s in series.values() for m, _, _ in s})
    return Timeline(months=months, series=series, changes=changes, drl=rows[0].drl if rows else None)


def distribution_values(f: StatsFilter) -> dict[Device, list[float]]:
    """The sample values of one procedure's quantity per room (for histograms and box plots)."""
    frame = samples(f)
    devices = Device.objects.in_bulk(set(frame["device_id"]))
    return {devices[k]: sorted(g["value"].astype(float).tolist()) for k, g in frame.groupby("device_id")}


@dataclass
class Exceedance:
    study: Study
    event: IrradiationEvent | None
    procedure: StandardProcedure
    quantity: str
    value: float
    drl: DrlValue

    @property
    def multiple(self) -> float:
        return self.value / self.drl.value

    @property
    def unit(self) -> str:
        return QUANTITIES[self.quantity][1]


def exceedances(f: StatsFilter, *, multiple: float = 1.0, limit: int = 500) -> list[Exceedance]:
    """Exams (or sequences, views) whose value is above ``multiple`` × the applicable DRL, highest first."""
    frame = samples(f)
    if frame.empty:
        return []
    on_date = f.date_to or datetime.date.today()
    procedures = StandardProcedure.objects.in_bulk(set(frame["procedure_id"]))
    found = []
    for (procedure_id, quantity), group in frame.groupby(["procedure_id", "quantity"]):
        drl = drl_for(procedures[procedure_id], quantity, on_date)
        if drl is None or not drl.value:
            continue
        over = group[group["value"] > multiple * drl.value]
        found += [(row.study_id, row.event_id, procedures[procedure_id], quantity, float(row.value), drl)
                  for row in over.itertuples()]
    found.sort(key=lambda x: -x[4] / x[5].value)
    found = found[:limit]
    studies = Study.objects.select_related("patient", "device").in_bulk({x[0] for x in found})
    events = IrradiationEvent.objects.in_bulk({int(x[1]) for x in found if not pd.isna(x[1])})
    return [
        Exceedance(studies[s], events.get(int(e)) if not pd.isna(e) else None, p, q, v, d)
        for s, e, p, q, v, d in found
    ]


# ------------------------------------------------------------------ lists


@dataclass(frozen=True)
class ListFilter:
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    modality: str = ""
    device_id: int | None = None
    procedure_id: int | None = None
    protocol: str = ""
    age_band: str = ""
    size_band: str = ""


def _band_q(name: str, bands: dict, key: str, *, upper_included: bool = False) -> Q:
    """Lower bound included, upper excluded (weight: the 50–90 kg band includes 90 kg)."""
    if key not in bands:
        return Q()
    _label, low, high = bands[key]
    if low is None:
        return Q(**{f"{name}__isnull": True})
    if upper_included and low == st.STANDARD_WEIGHT_KG[1]:
        q = Q(**{f"{name}__gt": low})
    else:
        q = Q(**{f"{name}__gte": low})
    if high != float("inf"):
        q &= Q(**{f"{name}__lte" if upper_included and high == st.STANDARD_WEIGHT_KG[1] else f"{name}__lt": high})
    return q


def _study_q(f: ListFilter, prefix: str = "") -> Q:
    q = Q(**{f"{prefix}non_patient": False})
    if f.date_from:
        q &= Q(**{f"{prefix}study_date__gte": f.date_from})
    if f.date_to:
        q &= Q(**{f"{prefix}study_date__lte": f.date_to})
    if f.modality:
        q &= Q(**{f"{prefix}modality": f.modality})
    if f.device_id:
        q &= Q(**{f"{prefix}device_id": f.device_id})
    q &= _band_q(f"{prefix}age_years", st.AGE_BANDS, f.age_band)
    q &= _band_q(f"{prefix}weight_kg", st.SIZE_BANDS, f.size_band, upper_included=True)
    return q


def study_rows(f: ListFilter, *, limit: int | None = None) -> QuerySet[Study]:
    """Patient studies of the filter, newest first, with patient, room and procedure in one query."""
    studies = Study.objects.filter(_study_q(f)).select_related("patient", "device", "drl_mapping__procedure")
    if f.procedure_id:
        studies = studies.filter(drl_mapping__procedure_id=f.procedure_id)
    if f.protocol:
        studies = studies.filter(events__protocol__icontains=f.protocol).distinct()
    studies = studies.order_by("-study_date", "-study_time", "-id")
    return studies[:limit] if limit else studies


def event_rows(f: ListFilter, *, limit: int | None = None) -> QuerySet[IrradiationEvent]:
    """Events of patient studies (of their best source kind) of the filter, newest first."""
    events = IrradiationEvent.objects.filter(_study_q(f, "study__")).select_related(
        "study", "study__patient", "study__device", "drl_mapping__procedure"
    ).filter(source_kind=F("study__source_kind"))
    if f.procedure_id:
        events = events.filter(
            Q(drl_mapping__procedure_id=f.procedure_id) | Q(study__drl_mapping__procedure_id=f.procedure_id)
        )
    if f.protocol:
        events = events.filter(protocol__icontains=f.protocol)
    events = events.order_by("-study__study_date", "-datetime_started", "-id")
    return events[:limit] if limit else events


def patient_history(*, patient_pk: int) -> tuple[Patient, QuerySet[Study]]:
    """One patient's studies, oldest first, with room and procedure (non-patient studies included, marked)."""
    patient = Patient.objects.get(pk=patient_pk)
    studies = (
        Study.objects.filter(patient=patient)
        .select_related("device", "drl_mapping__procedure")
        .order_by("study_date", "study_time", "id")
    )
    return patient, studies


def devices_with_studies() -> QuerySet[Device]:
    return Device.objects.filter(studies__isnull=False).distinct().order_by("display_name", "station_name")
