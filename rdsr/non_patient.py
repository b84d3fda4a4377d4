"""Which studies are not of a patient (phantom, QA, test): pure matching, no database.

A rule is a field (patient ID, patient name, study description) and a
shell-style wildcard (``*`` any text, ``?`` one character, ``[abc]`` one of),
matched against the whole value, case-insensitively. Patient names arrive in
DICOM PN form "FAMILY^GIVEN^MIDDLE^PREFIX^SUFFIX"; a rule is tried against the
name as it came and against the name with every ``^`` read as a space (empty
components dropped), so "TEST^PATIENT" is caught by "test *" as well as by
"test^*".

Matching whole values rather than substrings is deliberate: "*test*" would
catch Celestine, Testa and Prestes, and "*qa*" Qasim and Al-Qaisi. A word is
matched on its own with four rules: "test", "test *", "* test", "* test *".
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

FIELD_LABELS = {
    "patient_id": "Patient ID",
    "patient_name": "Patient name",
    "study_description": "Study description",
}


@dataclass(frozen=True)
class Rule:
    field: str  # a key of FIELD_LABELS
    pattern: str


def pattern_problem(*, field: str, pattern: str) -> str | None:
    """Why a rule cannot be used, or None when it can."""
    if field not in FIELD_LABELS:
        return f"unknown field {field!r} (one of {', '.join(FIELD_LABELS)})"
    text = pattern.strip()
    if not text:
        return "the pattern is empty"
    if len(text) > 200:
        return "the pattern is longer than 200 characters"
    if not text.strip("*?"):
        # "*" alone would take every study out of the statistics.
        return "the pattern matches everything: give at least one letter or digit"
    return None


def name_forms(name: str | None) -> list[str]:
    """The forms a PN value is matched in: as it came, and with ^ as spaces."""
    raw = (name or "").strip()
    if not raw:
        return []
    spaced = " ".join(raw.replace("^", " ").split())
    return [raw.rstrip("^"), spaced] if spaced != raw.rstrip("^") else [spaced]


def non_patient_reason(
    rules: Iterable[Rule],
    *,
    patient_id: str | None,
    patient_name: str | None,
    study_description: str | None,
) -> str | None:
    """The reason the first matching rule gives ("Patient name matches 'phantom*'"), or None."""
    values = {
        "patient_id": [(patient_id or "").strip()],
        "patient_name": name_forms(patient_name),
        "study_description": [(study_description or "").strip()],
    }
    for rule in rules:
        pattern = rule.pattern.strip().casefold()
        if not pattern:
            continue
        for value in values.get(rule.field, []):
            if value and fnmatch.fnmatchcase(value.casefold(), pattern):
                return f"{FIELD_LABELS.get(rule.field, rule.field)} matches '{rule.pattern.strip()}'"
    return None
