"""The shipped catalogue of standard procedures and the default DRL sets of DOMAIN.md §7.

Values are stored in the canonical unit of their quantity (DOMAIN.md §4): the
German radiography DRLs are published in cGy·cm² and stored in Gy·cm² (×0.01),
with the published figure kept in `published_as`. RadLex Playbook identifiers
are filled in only where one was verified (RPID2492 XR ABDOMEN AP); the others
are blank for the MPE to complete. Dates: where DOMAIN.md gives only a year,
valid_from is 1 January of that year and the set's notes say so.
"""

import datetime

from django.db import migrations

# name, modality, body region, RadLex Playbook ID ("" not verified), notes
PROCEDURES = [
    ("CT head", "CT", "Head", "", "Routine and acute stroke head CT."),
    ("CT sinuses", "CT", "Head", "", ""),
    ("CT cervical spine", "CT", "Neck", "", "Trauma / suspected fracture."),
    ("CT chest", "CT", "Chest", "", "Routine chest, lung cancer staging."),
    ("CT chest HRCT", "CT", "Chest", "", "High-resolution chest."),
    ("CTPA", "CT", "Chest", "", "CT pulmonary angiography (pulmonary embolism)."),
    ("CT abdomen-pelvis", "CT", "Abdomen", "", "Including acute abdominal pain."),
    ("CT abdomen (appendicitis)", "CT", "Abdomen", "", "EUCLID clinical indication."),
    ("CT liver (HCC)", "CT", "Abdomen", "", "Multiphase liver, EUCLID clinical indication."),
    ("CT chest-abdomen-pelvis", "CT", "Trunk", "", ""),
    ("CT KUB", "CT", "Abdomen", "", "Kidneys, ureters, bladder (renal colic)."),
    ("CT coronary calcium scoring", "CT", "Heart", "", ""),
    ("CT coronary angiography", "CT", "Heart", "", ""),
    ("Chest PA", "DX", "Chest", "", ""),
    ("Chest AP", "DX", "Chest", "", ""),
    ("Chest lateral", "DX", "Chest", "", ""),
    ("Abdomen AP", "DX", "Abdomen", "RPID2492", ""),
    ("Pelvis AP", "DX", "Pelvis", "", ""),
    ("Thoracic spine AP", "DX", "Spine", "", ""),
    ("Thoracic spine lateral", "DX", "Spine", "", ""),
    ("Lumbar spine AP", "DX", "Spine", "", ""),
    ("Lumbar spine lateral", "DX", "Spine", "", ""),
    ("Shoulder", "DX", "Upper limb", "", ""),
    ("Mammography CC", "MG", "Breast", "", "Cranio-caudal view."),
    ("Mammography MLO", "MG", "Breast", "", "Medio-lateral oblique view."),
    ("Digital breast tomosynthesis", "MG", "Breast", "", ""),
    ("Barium swallow", "RF", "Oesophagus", "", ""),
    ("Barium meal", "RF", "Stomach", "", ""),
    ("Barium enema", "RF", "Colon", "", ""),
    ("Micturating cystourethrogram", "RF", "Bladder", "", ""),
    ("ERCP", "RF", "Biliary", "", ""),
    ("Coronary angiography", "XA", "Heart", "", ""),
    ("PCI", "XA", "Heart", "", "Percutaneous coronary intervention."),
    ("TAVI", "XA", "Heart", "", "Transcatheter aortic valve implantation."),
    ("Electrophysiology study / ablation", "XA", "Heart", "", ""),
    ("Pacemaker implantation (single chamber)", "XA", "Heart", "", ""),
    ("Pacemaker implantation (dual chamber)", "XA", "Heart", "", ""),
    ("CRT device implantation", "XA", "Heart", "", "Cardiac resynchronisation therapy."),
]

UNITS = {"ctdivol": "mGy", "dlp": "mGy·cm", "dap": "Gy·cm²"}

SETS = [
    {
        "name": "UK national DRLs for CT",
        "kind": "national",
        "jurisdiction": "United Kingdom",
        "source": "UK Health Security Agency: National Diagnostic Reference Levels (NDRLs), gov.uk, CT NDRLs 2022.",
        "source_url": "https://www.gov.uk/government/publications/diagnostic-radiology-national-diagnostic-reference-levels-ndrls",
        "version": "2022",
        "valid_from": datetime.date(2022, 1, 1),
        "notes": "Adult CT. valid_from is the year of publication only: set the exact date from the gov.uk page.",
        # procedure, CTDIvol mGy (per sequence) or None, DLP mGy·cm (per exam), phantom
        "ct": [
            ("CT head", 47, 790, "head16", "Acute stroke."),
            ("CT sinuses", 12, 160, "head16", ""),
            ("CT cervical spine", 16, 400, "", "Fracture. Phantom size not stated in DOMAIN.md: check the source."),
            ("CT chest", 8.5, 290, "body32", "Lung cancer."),
            ("CTPA", 9.1, 310, "body32", ""),
            ("CT chest HRCT", 8, 300, "body32", ""),
            ("CT abdomen-pelvis", 10, 530, "body32", ""),
            ("CT KUB", 6.3, 290, "body32", ""),
            ("CT chest-abdomen-pelvis", None, 660, "", "DLP only."),
        ],
        "verify": False,
    },
    {
        "name": "EUCLID clinical DRLs for CT",
        "kind": "regional",
        "jurisdiction": "European Union",
        "source": "European Commission, Radiation Protection No 195: European study on clinical diagnostic "
        "reference levels for X-ray medical imaging (EUCLID), 2021.",
        "source_url": "",
        "version": "RP 195 (2021)",
        "valid_from": datetime.date(2021, 1, 1),
        "notes": "Clinical-indication DRLs, adults. Every value still needs checking against RP 195 "
        "(DOMAIN.md §7). valid_from is the year of publication only.",
        "ct": [
            ("CT head", 48, 807, "head16", "Stroke."),
            ("CT sinuses", 11, 188, "head16", "Sinusitis."),
            ("CT cervical spine", 17, 455, "", "C-spine trauma."),
            ("CTPA", 9, 307, "body32", "Pulmonary embolism."),
            ("CT chest", 8, 348, "body32", "Lung cancer."),
            ("CT coronary calcium scoring", 4, 72, "body32", ""),
            ("CT coronary angiography", 25, 415, "body32", ""),
            ("CT liver (HCC)", 9, 354, "body32", "Hepatocellular carcinoma."),
            ("CT abdomen-pelvis", 8, 436, "body32", "Abdominal pain."),
            ("CT abdomen (appendicitis)", 9, 498, "body32", "Appendicitis."),
        ],
        "verify": True,
    },
]

BFS = {
    "name": "Germany: diagnostic reference levels for radiography (adults)",
    "kind": "national",
    "jurisdiction": "Germany",
    "source": "Bundesamt für Strahlenschutz: Bekanntmachung der aktualisierten diagnostischen Referenzwerte "
    "für diagnostische und interventionelle Röntgenanwendungen, BAnz AT 11.01.2023 B11.",
    "source_url": "",
    "version": "2023",
    "valid_from": datetime.date(2023, 1, 11),
    "notes": "Published in cGy·cm²; stored in Gy·cm² (×0.01), the published figure beside each value. "
    "Dose area product per exposure (view).",
}
# procedure, DAP in cGy·cm² as published
BFS_DAP_CGYCM2 = [
    ("Chest PA", 12), ("Chest AP", 15), ("Chest lateral", 40),
    ("Thoracic spine AP", 100), ("Thoracic spine lateral", 120),
    ("Lumbar spine AP", 200), ("Lumbar spine lateral", 330),
    ("Abdomen AP", 200), ("Pelvis AP", 230), ("Shoulder", 25),
]

CARDIO = {
    "name": "European DRLs for interventional cardiology",
    "kind": "regional",
    "jurisdiction": "Europe",
    "source": "Siiskonen T. et al., Establishing the European diagnostic reference levels for interventional "
    "cardiology, Physica Medica 2018.",
    "source_url": "",
    "version": "2018",
    "valid_from": datetime.date(2018, 1, 1),
    "notes": "KAP per procedure, adults. valid_from is the year of publication only.",
}
# procedure, KAP Gy·cm², needs verification, note
CARDIO_KAP = [
    ("Coronary angiography", 35, False, ""),
    ("PCI", 85, False, ""),
    ("TAVI", 130, False, ""),
    ("Electrophysiology study / ablation", 12, False, ""),
    ("Pacemaker implantation (single chamber)", 2.5, True,
     "DOMAIN.md gives pacemaker 2.5/3.5 without the kinds: read as single/dual chamber; check the paper."),
    ("Pacemaker implantation (dual chamber)", 3.5, True,
     "DOMAIN.md gives pacemaker 2.5/3.5 without the kinds: read as single/dual chamber; check the paper."),
    ("CRT device implantation", 18, False, ""),
]

SET_FIELDS = ("name", "kind", "jurisdiction", "source", "source_url", "version", "valid_from", "notes")


def seed(apps, schema_editor):
    StandardProcedure = apps.get_model("drl", "StandardProcedure")
    DrlSet = apps.get_model("drl", "DrlSet")
    DrlValue = apps.get_model("drl", "DrlValue")
    procedures = {}
    for name, modality, region, rpid, notes in PROCEDURES:
        procedures[name], _ = StandardProcedure.objects.get_or_create(
            name=name, defaults={"modality": modality, "body_region": region, "radlex_playbook_id": rpid,
                                 "notes": notes}
        )

    def make_set(spec):
        drl_set, _ = DrlSet.objects.get_or_create(
            name=spec["name"], version=spec["version"],
            defaults={k: spec[k] for k in SET_FIELDS if k not in ("name", "version")} | {"created_by": "shipped"},
        )
        return drl_set

    for spec in SETS:
        drl_set = make_set(spec)
        note = "Verify against the primary document (DOMAIN.md §7)." if spec["verify"] else ""
        for name, ctdivol, dlp, phantom, remark in spec["ct"]:
            common = {"drl_set": drl_set, "procedure": procedures[name], "patient_group": "adult",
                      "needs_verification": spec["verify"],
                      "verification_note": " ".join(x for x in (remark, note) if x)}
            if ctdivol is not None:
                DrlValue.objects.create(quantity="ctdivol", unit=UNITS["ctdivol"], level="sequence",
                                        phantom=phantom, value=float(ctdivol), **common)
            DrlValue.objects.create(quantity="dlp", unit=UNITS["dlp"], level="exam", phantom=phantom,
                                    value=float(dlp), **common)

    drl_set = make_set(BFS)
    for name, cgycm2 in BFS_DAP_CGYCM2:
        DrlValue.objects.create(
            drl_set=drl_set, procedure=procedures[name], quantity="dap", unit=UNITS["dap"], level="view",
            patient_group="adult", value=round(cgycm2 * 0.01, 6), published_as=f"{cgycm2} cGy·cm²",
        )

    drl_set = make_set(CARDIO)
    for name, kap, verify, note in CARDIO_KAP:
        DrlValue.objects.create(
            drl_set=drl_set, procedure=procedures[name], quantity="dap", unit=UNITS["dap"], level="exam",
            patient_group="adult", value=float(kap), needs_verification=verify, verification_note=note,
        )


def unseed(apps, schema_editor):
    DrlSet = apps.get_model("drl", "DrlSet")
    StandardProcedure = apps.get_model("drl", "StandardProcedure")
    for spec in [*SETS, BFS, CARDIO]:
        DrlSet.objects.filter(name=spec["name"], version=spec["version"], created_by="shipped").delete()
    StandardProcedure.objects.filter(
        name__in=[p[0] for p in PROCEDURES], rules__isnull=True, drl_values__isnull=True,
        study_mappings__isnull=True, event_mappings__isnull=True,
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("drl", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
