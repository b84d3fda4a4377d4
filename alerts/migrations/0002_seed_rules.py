"""The built-in alert rules of DOMAIN.md §8, each with its source; editable afterwards."""

from django.db import migrations

STRLSCHV = (
    "StrlSchV §108 with Annex 14 (Anlage 14), significant events in diagnostic X-ray use "
    "(Bedeutsame Vorkommnisse), Strahlenschutzverordnung 2018."
)
NCRP = "NCRP Report No. 168 (2010), substantial radiation dose levels (SRDL): follow the patient for skin effects."
XR25 = "NEMA XR-25 CT Dose Check, recorded in the CT RDSR (DICOM TID 10015 CT Dose Check Details)."
DOMAIN = "DOMAIN.md §8; the level is a local choice: set your own."
HEAD = "head,brain,skull,cranial,kopf,schädel,schaedel"

# code, name, kind, quantity, threshold, extra fields, source
RULES = [
    ("de-ct-brain-ctdivol", "StrlSchV: CT of the brain, CTDIvol > 120 mGy", "absolute", "ctdivol", 120.0,
     {"modalities": "CT", "body_region": HEAD, "urgent": True}, STRLSCHV),
    ("de-ct-other-ctdivol", "StrlSchV: other CT, CTDIvol > 80 mGy", "absolute", "ctdivol", 80.0,
     {"modalities": "CT", "body_region": HEAD, "body_region_exclude": True, "urgent": True}, STRLSCHV),
    ("de-fluoro-dap", "StrlSchV: fluoroscopy DAP > 200 Gy·cm² (20 000 cGy·cm²)", "absolute", "dap", 200.0,
     {"modalities": "RF,XA", "urgent": True}, STRLSCHV),
    ("de-mean20-ct-dlp", "StrlSchV: mean DLP of the last 20 exams > 2 × DRL after one > 3 × DRL",
     "mean_of_last", "dlp", 2.0, {"modalities": "CT", "threshold_single": 3.0, "count": 20, "urgent": True}, STRLSCHV),
    ("de-mean20-ct-ctdivol", "StrlSchV: mean CTDIvol of the last 20 exams > 2 × DRL after one > 3 × DRL",
     "mean_of_last", "ctdivol", 2.0, {"modalities": "CT", "threshold_single": 3.0, "count": 20, "urgent": True},
     STRLSCHV),
    ("de-mean20-dap", "StrlSchV: mean DAP of the last 20 exams > 2 × DRL after one > 3 × DRL",
     "mean_of_last", "dap", 2.0, {"modalities": "DX,CR,RF,XA", "threshold_single": 3.0, "count": 20, "urgent": True},
     STRLSCHV),
    ("ncrp168-kar", "NCRP 168: Ka,r > 5 Gy", "absolute", "kar", 5000.0, {"modalities": "RF,XA", "urgent": True}, NCRP),
    ("ncrp168-psd", "NCRP 168: peak skin dose > 3 Gy", "absolute", "psd", 3000.0,
     {"modalities": "RF,XA", "urgent": True}, NCRP),
    ("ncrp168-kap", "NCRP 168: KAP > 500 Gy·cm²", "absolute", "dap", 500.0, {"modalities": "RF,XA", "urgent": True}, NCRP),
    ("ncrp168-time", "NCRP 168: fluoroscopy time > 60 min", "absolute", "fluoro_time", 3600.0,
     {"modalities": "RF,XA", "urgent": True}, NCRP),
    ("ct-dose-check-alert", "CT dose check alert recorded by the scanner", "dose_check", "dose_check_alert", None,
     {"modalities": "CT"}, XR25),
    ("ct-dose-check-notification", "CT dose check notification recorded by the scanner", "dose_check",
     "dose_check_notification", None, {"modalities": "CT", "active": False}, XR25),
    ("drl-2x-ct-dlp", "DLP > 2 × DRL", "drl_multiple", "dlp", 2.0, {"modalities": "CT"}, DOMAIN),
    ("drl-2x-ct-ctdivol", "CTDIvol > 2 × DRL (per sequence)", "drl_multiple", "ctdivol", 2.0, {"modalities": "CT"},
     DOMAIN),
    ("drl-2x-dap", "DAP > 2 × DRL", "drl_multiple", "dap", 2.0, {"modalities": "DX,CR,RF,XA"}, DOMAIN),
    ("protocol-2x-median-ctdivol", "CTDIvol > 2 × the protocol's own median on the device", "protocol_median",
     "ctdivol", 2.0, {"modalities": "CT", "count": 10, "window_days": 180.0}, DOMAIN),
    ("cumulative-ct-dlp-year", "Cumulative CT DLP > 5 000 mGy·cm in 365 days", "cumulative", "dlp", 5000.0,
     {"modalities": "CT", "window_days": 365.0}, DOMAIN),
    ("repeat-ct-48h", "Same region examined again by CT within 48 h", "repeat", "repeat", None,
     {"modalities": "CT", "window_days": 2.0}, DOMAIN),
    ("technique-ct", "CT protocol technique (kVp, pitch, reference mAs, filter) changed on a device", "technique",
     "technique", 0.05, {"modalities": "CT", "count": 5, "window_days": 90.0}, DOMAIN),
    ("order-without-dose", "Order without dose data (HL7)", "order", "order", 24.0,
     {"modalities": "CT,DX,CR,MG,RF,XA"}, "RIS orders (HL7 ORM/OMI) whose study never sent dose data."),
]


def seed(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    for code, name, kind, quantity, threshold, extra, source in RULES:
        AlertRule.objects.update_or_create(
            code=code,
            defaults={"name": name, "kind": kind, "quantity": quantity, "threshold": threshold, "source": source, **extra},
        )


def unseed(apps, schema_editor):
    apps.get_model("alerts", "AlertRule").objects.filter(code__in=[r[0] for r in RULES], alerts__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
