"""Default non-patient rules, and the studies already stored classified by them.

Rules match whole values (shell-style wildcards, case-insensitive; names also
with ^ read as a space), chosen so that real names are not caught:
- "phantom" and "physics" anywhere in a name, ID or description: neither is
  part of any real name; QA objects are often named "PHYSICS^..." or
  "QATesting^Physics", and Siemens' QA protocols live under "PhysicsTesting";
- "test" and "qa" in a name only as a word of their own ("TEST^PATIENT",
  "QA PHANTOM", "Smith^Test"): as substrings they would catch Celestine,
  Testa, Prestes, Qasim or Al-Qaisi;
- patient IDs starting with "test", "qa" or "phantom": hospital IDs are
  digits or a site prefix, so an ID like "QA2024-01" or "TEST1" is a test.
Each can be disabled or deleted on the "Non-patient rules" page.
"""

from django.db import migrations

DEFAULT_RULES = [
    ("patient_name", "*phantom*", "phantom anywhere in the name"),
    ("patient_name", "*physics*", "QA objects named PHYSICS^..."),
    ("patient_name", "test", "the word TEST on its own"),
    ("patient_name", "test *", "the word TEST on its own (first)"),
    ("patient_name", "* test", "the word TEST on its own (last)"),
    ("patient_name", "* test *", "the word TEST on its own (middle)"),
    ("patient_name", "qa", "the word QA on its own"),
    ("patient_name", "qa *", "the word QA on its own (first)"),
    ("patient_name", "* qa", "the word QA on its own (last)"),
    ("patient_name", "* qa *", "the word QA on its own (middle)"),
    ("patient_id", "*phantom*", "phantom anywhere in the ID"),
    ("patient_id", "test*", "IDs starting with TEST"),
    ("patient_id", "qa*", "IDs starting with QA"),
    ("study_description", "*phantom*", "phantom anywhere in the description"),
    ("study_description", "*physicstest*", "Siemens QA protocols (Specials^PhysicsTesting)"),
]


def add_defaults(apps, schema_editor):
    from rdsr.non_patient import Rule, non_patient_reason

    NonPatientRule = apps.get_model("rdsr", "NonPatientRule")
    Study = apps.get_model("rdsr", "Study")
    for field, pattern, note in DEFAULT_RULES:
        NonPatientRule.objects.get_or_create(
            field=field, pattern=pattern, defaults={"note": note, "created_by": "(default)"}
        )
    rules = [
        Rule(field=r.field, pattern=r.pattern)
        for r in NonPatientRule.objects.filter(active=True).order_by("field", "pattern", "id")
    ]
    rows = (
        Study.objects.filter(non_patient_decided_by="")
        .order_by()
        .values_list("pk", "study_description", "patient__patient_id", "patient__name")
    )
    for pk, description, patient_id, name in rows.iterator(chunk_size=2000):
        reason = non_patient_reason(rules, patient_id=patient_id, patient_name=name, study_description=description)
        if reason:
            Study.objects.filter(pk=pk).update(non_patient=True, non_patient_reason=reason[:200])


def remove_defaults(apps, schema_editor):
    NonPatientRule = apps.get_model("rdsr", "NonPatientRule")
    for field, pattern, _ in DEFAULT_RULES:
        NonPatientRule.objects.filter(field=field, pattern=pattern, created_by="(default)").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rdsr", "0002_patient_size_non_patient_ocr_template"),
    ]

    operations = [migrations.RunPython(add_defaults, remove_defaults)]
