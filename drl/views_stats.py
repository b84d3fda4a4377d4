"""The MPE's pages: dashboard, statistics table, timeline, distribution, exceedances, lists, patient history.

Reads through drl.stats_selectors; charts are plotly figures rendered by
static/vendor/plotly.min.js (our own copy: no CDN). Pages that show patient
identity write one audit event per view.
"""

from __future__ import annotations

import csv
import datetime
import json
from typing import Any

import plotly.graph_objects as go
from django import forms
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from audit.services import audit_record
from rdsr.models import Device, Patient, Study

from . import statistics as st
from . import stats_selectors as sel
from .models import MODALITY_CHOICES, QUANTITIES, StandardProcedure

LIST_LIMIT = 500
CSV_LIMIT = 100_000
RATIO_COLOURS = [[0, "#2f8f5b"], [0.4, "#9fd3a9"], [0.5, "#f4e3a1"], [0.75, "#e8955f"], [1, "#b3262a"]]


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class StatsForm(forms.Form):
    date_from = forms.DateField(required=False, label="From", widget=_date_input())
    date_to = forms.DateField(required=False, label="To", widget=_date_input())
    modality = forms.ChoiceField(required=False, choices=[("", "All modalities"), *MODALITY_CHOICES])
    device = forms.ModelChoiceField(queryset=None, required=False, label="Room", empty_label="All rooms")
    procedure = forms.ModelChoiceField(queryset=None, required=False, empty_label="All procedures")
    quantity = forms.ChoiceField(
        required=False, choices=[("", "All quantities")] + [(k, f"{v[0]} ({v[1]})") for k, v in QUANTITIES.items()]
    )
    standard_size = forms.BooleanField(required=False, label="50–90 kg only")
    min_n = forms.IntegerField(required=False, min_value=1, max_value=10_000, label="Min. sample")
    period = forms.ChoiceField(required=False, choices=list(sel.PERIODS.items()))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["device"].queryset = Device.objects.order_by("display_name", "station_name", "id")
        self.fields["procedure"].queryset = StandardProcedure.objects.order_by("modality", "name")


def _default_range() -> tuple[datetime.date, datetime.date]:
    today = datetime.date.today()
    return today - datetime.timedelta(days=365), today


def _stats_filter(request: HttpRequest) -> tuple[StatsForm, sel.StatsFilter]:
    date_from, date_to = _default_range()
    form = StatsForm(request.GET or None, initial={"date_from": date_from, "date_to": date_to, "min_n": 20})
    data: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
    device, procedure = data.get("device"), data.get("procedure")
    return form, sel.StatsFilter(
        date_from=data.get("date_from") or (None if form.is_bound else date_from),
        date_to=data.get("date_to") or (None if form.is_bound else date_to),
        modality=data.get("modality") or "",
        device_ids=(device.pk,) if device else (),
        procedure_id=procedure.pk if procedure else None,
        quantity=data.get("quantity") or "",
        standard_size=bool(data.get("standard_size")),
        min_n=data.get("min_n") or st.MIN_SAMPLE_DEFAULT,
        period=data.get("period") or "all",
    )


def _figure_json(fig: go.Figure) -> dict:
    """The figure as plain data, for json_script (which escapes what could end the script element)."""
    fig.update_layout(
        margin={"l": 60, "r": 20, "t": 30, "b": 60},
        font={"family": "system-ui, sans-serif", "size": 12},
        paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff",
    )
    return json.loads(fig.to_json())


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _query(f: sel.StatsFilter, **extra: Any) -> str:
    from urllib.parse import urlencode

    params = {
        "date_from": f.date_from or "",
        "date_to": f.date_to or "",
        "standard_size": "on" if f.standard_size else "",
        "min_n": f.min_n,
        **extra,
    }
    return urlencode({k: v for k, v in params.items() if v not in ("", None)})


def _common_context(f: sel.StatsFilter) -> dict[str, Any]:
    return {"f": f, "excluded": sel.exclusions(f), "percentile_note": st.__doc__}


def dashboard(request: HttpRequest) -> HttpResponse:
    form, f = _stats_filter(request)
    rows = sel.stat_rows(f, period="all")
    if not f.quantity:  # the first DRL quantity of each procedure's modality
        rows = [r for r in rows if sel.MODALITY_QUANTITIES.get(r.procedure.modality, [""])[0] == r.quantity]
    devices = sorted({r.device for r in rows}, key=str)
    lines: dict[tuple, dict] = {}
    for r in rows:
        line = lines.setdefault(
            (r.procedure.pk, r.quantity), {"procedure": r.procedure, "quantity": r.quantity, "drl": r.drl,
                                           "unit": r.unit, "label": r.quantity_label, "cells": {}}
        )
        line["cells"][r.device] = r
    table = []
    for line in lines.values():
        line["row"] = [(d, line["cells"].get(d)) for d in devices]
        line["link"] = _query(f, procedure=line["procedure"].pk, quantity=line["quantity"])
        table.append(line)
    chart = None
    if table:
        z = [[c.ratio if c and c.enough else None for _d, c in line["row"]] for line in table]
        text = [[f"{_fmt(c.median)} {c.unit}, n={c.n}" if c else "" for _d, c in line["row"]] for line in table]
        fig = go.Figure(
            go.Heatmap(
                z=z,
                x=[str(d) for d in devices],
                y=[f"{line['procedure'].name} · {line['label']}" for line in table],
                text=text,
                hovertemplate="%{y}<br>%{x}<br>median %{text}<br>median/DRL %{z:.2f}<extra></extra>",
                colorscale=RATIO_COLOURS,
                zmin=0,
                zmax=2,
                colorbar={"title": {"text": "median / DRL (ratio, 1 = at DRL)"}},
            )
        )
        fig.update_layout(height=max(300, 40 * len(table) + 140), xaxis_title="Room", yaxis_title="Procedure · quantity")
        chart = _figure_json(fig)
    return render(
        request,
        "drl/dashboard.html",
        {"form": form, "devices": devices, "table": table, "chart": chart, **_common_context(f)},
    )


def stats_table(request: HttpRequest) -> HttpResponse:
    form, f = _stats_filter(request)
    rows = sel.stat_rows(f)
    if request.GET.get("format") == "csv":
        return _csv(
            "statistics.csv",
            ["Procedure", "Modality", "Room", "Quantity", "Unit", "Period start", "Number", "Median", "Mean",
             "Minimum", "Maximum", "SD (n-1)", "75th percentile", "DRL", "DRL set", "Median / DRL",
             "Compliance", f"At least {f.min_n}"],
            ([r.procedure.name, r.procedure.modality, str(r.device), r.quantity_label, r.unit, r.period or "",
              r.n, r.median, r.mean, r.min, r.max, r.sd, r.p75, r.drl.value if r.drl else "",
              str(r.drl.drl_set) if r.drl else "", r.ratio if r.ratio is not None else "", r.compliance,
              "yes" if r.enough else "no"] for r in rows),
        )
    return render(request, "drl/stats_table.html", {"form": form, "rows": rows, **_common_context(f)})


def _required(f: sel.StatsFilter) -> StandardProcedure:
    if not f.procedure_id or not f.quantity:
        raise Http404("choose a procedure and a quantity")
    return StandardProcedure.objects.get(pk=f.procedure_id)


def timeline(request: HttpRequest) -> HttpResponse:
    form, f = _stats_filter(request)
    chart, procedure, tl = None, None, None
    if f.procedure_id and f.quantity:
        procedure = _required(f)
        tl = sel.timeline(f)
        label, unit = QUANTITIES[f.quantity]
        fig = go.Figure()
        for device, points in sorted(tl.series.items(), key=lambda item: str(item[0])):
            fig.add_trace(go.Scatter(
                x=[m.isoformat() for m, _v, _n in points], y=[v for _m, v, _n in points],
                customdata=[n for _m, _v, n in points], mode="lines+markers", name=str(device),
                hovertemplate=f"%{{x|%Y-%m}}: median %{{y:.3g}} {unit}, n=%{{customdata}}<extra>{device}</extra>",
            ))
            changes = tl.changes.get(device) or []
            if changes:
                medians = {m: v for m, v, _n in points}
                fig.add_trace(go.Scatter(
                    x=[m.isoformat() for m, _b, _a in changes], y=[medians.get(m) for m, _b, _a in changes],
                    mode="markers", name=f"{device}: technique change",
                    marker={"symbol": "star", "size": 14, "color": "#8a5a00"},
                    text=[f"median kVp {b:g} → {a:g}" for _m, b, a in changes],
                    hovertemplate="%{x|%Y-%m}: %{text}<extra></extra>",
                ))
        if tl.drl:
            fig.add_hline(y=tl.drl.value, line_dash="dash", line_color="#a3262a",
                          annotation_text=f"DRL {tl.drl.value:g} {unit} ({tl.drl.drl_set})")
        fig.update_layout(height=460, xaxis_title="Month", yaxis_title=f"Monthly median {label} ({unit})",
                          legend={"orientation": "h", "y": -0.2})
        chart = _figure_json(fig)
    return render(request, "drl/stats_timeline.html",
                  {"form": form, "chart": chart, "procedure": procedure, "timeline": tl, **_common_context(f)})


def distribution(request: HttpRequest) -> HttpResponse:
    form, f = _stats_filter(request)
    hist = box = None
    procedure = _required(f) if (f.procedure_id and f.quantity) else None
    summaries = []
    if procedure:
        values = sel.distribution_values(f)
        label, unit = QUANTITIES[f.quantity]
        drl = sel.drl_for(procedure, f.quantity, f.date_to or datetime.date.today())
        h = go.Figure()
        b = go.Figure()
        for device, data in sorted(values.items(), key=lambda item: str(item[0])):
            h.add_trace(go.Histogram(x=data, name=str(device), opacity=0.7))
            b.add_trace(go.Box(y=data, name=str(device), boxpoints="outliers"))
            summaries.append((device, st.summarise(data)))
        h.update_layout(barmode="overlay", height=380, xaxis_title=f"{label} ({unit})",
                        yaxis_title="Number of exams (count)" if sel.QUANTITY_LEVEL[f.quantity] == "exam"
                        else f"Number of {sel.QUANTITY_LEVEL[f.quantity]}s (count)")
        b.update_layout(height=380, xaxis_title="Room", yaxis_title=f"{label} ({unit})", showlegend=False)
        if drl:
            h.add_vline(x=drl.value, line_dash="dash", line_color="#a3262a", annotation_text=f"DRL {drl.value:g}")
            b.add_hline(y=drl.value, line_dash="dash", line_color="#a3262a", annotation_text=f"DRL {drl.value:g}")
        hist, box = _figure_json(h), _figure_json(b)
    return render(request, "drl/stats_distribution.html", {
        "form": form, "procedure": procedure, "hist": hist, "box": box, "summaries": summaries,
        "unit": QUANTITIES[f.quantity][1] if f.quantity else "", **_common_context(f),
    })


def exceedances(request: HttpRequest) -> HttpResponse:
    form, f = _stats_filter(request)
    try:
        multiple = max(float(request.GET.get("multiple") or 1), 0.1)
    except ValueError:
        multiple = 1.0
    found = sel.exceedances(f, multiple=multiple, limit=LIST_LIMIT)
    viewer = settings.VIEWER_URL_TEMPLATE
    rows = [(x, _viewer(viewer, x.study)) for x in found]
    audit_record(action="view", object_type="dose exceedances", summary=f"exams above {multiple:g} × DRL "
                 f"({len(found)} shown)", request=request, details={"filter": _query(f), "multiple": multiple,
                                                                     "studies": sorted({x.study.pk for x in found})})
    return render(request, "drl/stats_exceedances.html",
                  {"form": form, "rows": rows, "multiple": multiple, "limit": LIST_LIMIT, **_common_context(f)})


# ------------------------------------------------------------------ lists


class ListForm(forms.Form):
    date_from = forms.DateField(required=False, label="From", widget=_date_input())
    date_to = forms.DateField(required=False, label="To", widget=_date_input())
    modality = forms.ChoiceField(required=False, choices=[("", "All modalities"), *MODALITY_CHOICES])
    device = forms.ModelChoiceField(queryset=None, required=False, label="Room", empty_label="All rooms")
    procedure = forms.ModelChoiceField(queryset=None, required=False, empty_label="All procedures")
    protocol = forms.CharField(required=False, widget=forms.TextInput(attrs={"type": "search"}))
    age_band = forms.ChoiceField(required=False, label="Age",
                                 choices=[("", "All ages")] + [(k, v[0]) for k, v in st.AGE_BANDS.items()])
    size_band = forms.ChoiceField(required=False, label="Size",
                                  choices=[("", "All sizes")] + [(k, v[0]) for k, v in st.SIZE_BANDS.items()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["device"].queryset = Device.objects.order_by("display_name", "station_name", "id")
        self.fields["procedure"].queryset = StandardProcedure.objects.order_by("modality", "name")


def _list_filter(request: HttpRequest) -> tuple[ListForm, sel.ListFilter]:
    form = ListForm(request.GET or None)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    device, procedure = data.get("device"), data.get("procedure")
    return form, sel.ListFilter(
        date_from=data.get("date_from"), date_to=data.get("date_to"), modality=data.get("modality") or "",
        device_id=device.pk if device else None, procedure_id=procedure.pk if procedure else None,
        protocol=data.get("protocol") or "", age_band=data.get("age_band") or "",
        size_band=data.get("size_band") or "",
    )


def _viewer(template: str, study: Study) -> str:
    return st.viewer_url(
        template, study_instance_uid=study.study_instance_uid, accession_number=study.accession_number,
        patient_id=study.patient.patient_id if study.patient else "",
    )


def _csv(filename: str, header: list[str], rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")  # spreadsheets then read the units' characters right
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


def _procedure_name(obj) -> str:
    mapping = getattr(obj, "drl_mapping", None)
    return mapping.procedure.name if mapping and mapping.procedure else ""


STUDY_COLUMNS = ["Date", "Modality", "Room", "Accession", "Description", "Procedure", "Patient ID",
                 "Age (years)", "Weight (kg)", "Events", "Total DLP (mGy·cm)", "Total DAP (Gy·cm²)",
                 "AGD left (mGy)", "AGD right (mGy)", "Fluoro time (s)", "Study Instance UID"]


def study_list(request: HttpRequest) -> HttpResponse:
    form, f = _list_filter(request)
    csv_wanted = request.GET.get("format") == "csv"
    studies = list(sel.study_rows(f, limit=CSV_LIMIT if csv_wanted else LIST_LIMIT))
    audit_record(action="export" if csv_wanted else "view", object_type="study list",
                 summary=f"statistics study list ({len(studies)} studies{', CSV' if csv_wanted else ''})",
                 request=request, details={"filter": request.GET.urlencode(), "count": len(studies)})
    if csv_wanted:
        return _csv("studies.csv", STUDY_COLUMNS, (
            [s.study_date or "", s.modality, str(s.device or ""), s.accession_number, s.study_description,
             _procedure_name(s), s.patient.patient_id if s.patient else "", s.age_years, s.weight_kg,
             s.event_count, s.dlp_total_mgycm, s.dap_total_gycm2, s.agd_left_mgy, s.agd_right_mgy,
             s.fluoro_time_total_s, s.study_instance_uid] for s in studies))
    viewer = settings.VIEWER_URL_TEMPLATE
    rows = [(s, _procedure_name(s), _viewer(viewer, s)) for s in studies]
    return render(request, "drl/stats_studies.html",
                  {"form": form, "rows": rows, "limit": LIST_LIMIT, "query": request.GET.urlencode()})


EVENT_COLUMNS = ["Date", "Modality", "Room", "Accession", "Patient ID", "Procedure", "Protocol", "Event type",
                 "CTDIvol (mGy)", "DLP (mGy·cm)", "DAP (Gy·cm²)", "Ka,r (mGy)", "AGD (mGy)",
                 "Compressed thickness (mm)", "kVp (kV)", "In review", "Study Instance UID"]


def event_list(request: HttpRequest) -> HttpResponse:
    form, f = _list_filter(request)
    csv_wanted = request.GET.get("format") == "csv"
    events = list(sel.event_rows(f, limit=CSV_LIMIT if csv_wanted else LIST_LIMIT))
    audit_record(action="export" if csv_wanted else "view", object_type="event list",
                 summary=f"statistics event list ({len(events)} events{', CSV' if csv_wanted else ''})",
                 request=request, details={"filter": request.GET.urlencode(), "count": len(events)})

    def procedure(e) -> str:
        return _procedure_name(e) or _procedure_name(e.study)

    if csv_wanted:
        return _csv("events.csv", EVENT_COLUMNS, (
            [e.study.study_date or "", e.study.modality, str(e.study.device or ""), e.study.accession_number,
             e.study.patient.patient_id if e.study.patient else "", procedure(e), e.protocol, e.event_type,
             e.ctdivol_mgy, e.dlp_mgycm, e.dap_gycm2, e.dose_rp_mgy, e.agd_mgy, e.compression_thickness_mm,
             e.kvp, " ".join((e.details or {}).get("review") or []), e.study.study_instance_uid]
            for e in events))
    viewer = settings.VIEWER_URL_TEMPLATE
    rows = [(e, procedure(e), _viewer(viewer, e.study), (e.details or {}).get("review") or []) for e in events]
    return render(request, "drl/stats_events.html",
                  {"form": form, "rows": rows, "limit": LIST_LIMIT, "query": request.GET.urlencode()})


def patient_history(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        patient, studies = sel.patient_history(patient_pk=pk)
    except Patient.DoesNotExist as exc:
        raise Http404("no such patient") from exc
    studies = list(studies)
    audit_record(action="view", object_type="patient", object_id=patient.pk, patient_pk=patient.pk,
                 summary=f"dose history of {patient.patient_id} ({len(studies)} studies)", request=request)
    viewer = settings.VIEWER_URL_TEMPLATE
    totals = {
        "dlp": sum(s.dlp_total_mgycm or 0 for s in studies if not s.non_patient),
        "dap": sum(s.dap_total_gycm2 or 0 for s in studies if not s.non_patient),
    }
    chart = None
    dated = [s for s in studies if s.study_date and not s.non_patient]
    if dated:
        fig = go.Figure()
        ct = [s for s in dated if s.dlp_total_mgycm is not None]
        proj = [s for s in dated if s.dap_total_gycm2 is not None]
        if ct:
            fig.add_trace(go.Bar(x=[s.study_date.isoformat() for s in ct], y=[s.dlp_total_mgycm for s in ct],
                                 name="Total DLP (mGy·cm)"))
        if proj:
            fig.add_trace(go.Bar(x=[s.study_date.isoformat() for s in proj], y=[s.dap_total_gycm2 for s in proj],
                                 name="Total DAP (Gy·cm²)", yaxis="y2"))
        fig.update_layout(height=320, xaxis_title="Study date", yaxis_title="Total DLP (mGy·cm)",
                          yaxis2={"title": {"text": "Total DAP (Gy·cm²)"}, "overlaying": "y", "side": "right"},
                          legend={"orientation": "h", "y": -0.3})
        chart = _figure_json(fig)
    rows = [(s, _procedure_name(s), _viewer(viewer, s)) for s in studies]
    return render(request, "drl/stats_patient.html",
                  {"patient": patient, "rows": rows, "totals": totals, "chart": chart})
