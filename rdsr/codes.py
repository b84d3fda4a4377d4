"""Concept codes the parser matches on, and how a coded item becomes a key.

Every code is compared as a normalised key "SCHEME:VALUE" (see `code_key`), never
by its meaning: vendors spell meanings freely ("Fluoro Dose(RP) Total",
"Number of X-ray Sources"), but the code value is what the standard fixes.
SNOMED codes arrive in the retired SRT form (P5-08000) or as SNOMED CT ids
(77477000); both become the SCT key so one constant matches either.
"""

from __future__ import annotations

import re

# DICOM (DCMR) code values are six digits starting with 11 or 12; vendors put them
# under "DCM", "DCMR", a private "99..." scheme or even "SRT" (Eurocolumbus grids).
_DCM_VALUE = re.compile(r"^1[12]\d{4}$")
_DCM_LIKE_SCHEMES = frozenset({"DCM", "DCMR", "SRT", "SNM3", "SCT", ""})

# Retired SNOMED-RT ids of the codes we use -> SNOMED CT concept ids.
SRT_TO_SCT: dict[str, str] = {
    "P5-08000": "77477000",  # Computed Tomography X-Ray
    "P5-40010": "71651007",  # Mammography
    "P5-06000": "44491008",  # Fluoroscopy
    "P5-08001": "116152004",  # Spiral Acquisition
    "G-C171": "272741003",  # Laterality
    "G-C0E8": "363703001",  # Has Intent
    "G-C32C": "408730004",  # Procedure Context
    "T-D0005": "91723000",  # Anatomical structure
    "G-A100": "24028007",  # Right
    "G-A101": "7771000",  # Left
    "G-A102": "51440002",  # Right and left
    "T-04020": "73056007",  # Right breast
    "T-04030": "80248007",  # Left breast
    "T-04080": "63762007",  # Both breasts
    "R-0038D": "373066001",  # Yes
    "R-00339": "373067005",  # No
}


def code_key(scheme: str | None, value: str | None) -> str:
    scheme = (scheme or "").strip().upper()
    value = (value or "").strip()
    if _DCM_VALUE.match(value) and (scheme in _DCM_LIKE_SCHEMES or scheme.startswith("99")):
        return f"DCM:{value}"
    if scheme in ("SRT", "SNM3", "SCT"):
        return f"SCT:{SRT_TO_SCT.get(value, value)}"
    return f"{scheme}:{value}"


def dcm(value: str) -> str:
    return f"DCM:{value}"


def sct(value: str) -> str:
    return f"SCT:{value}"


# --- document level --------------------------------------------------------------
XRAY_RADIATION_DOSE_REPORT = dcm("113701")
RADIOPHARMACEUTICAL_DOSE_REPORT = dcm("113500")
PROCEDURE_REPORTED = dcm("121058")
HAS_INTENT = sct("363703001")
CT_PROCEDURE = sct("77477000")
PROJECTION_XRAY_PROCEDURE = dcm("113704")
MAMMOGRAPHY_PROCEDURE = sct("71651007")
SOURCE_OF_DOSE_INFORMATION = dcm("113854")
SCOPE_OF_ACCUMULATION = dcm("113705")
STUDY_INSTANCE_UID = dcm("110180")
START_OF_IRRADIATION = dcm("113809")
END_OF_IRRADIATION = dcm("113810")
COMMENT = dcm("121106")
ACQUISITION_DEVICE_TYPE = dcm("122142")

# observer context (TID 1002 / 1004)
DEVICE_OBSERVER_UID = dcm("121012")
DEVICE_OBSERVER_NAME = dcm("121013")
DEVICE_OBSERVER_MANUFACTURER = dcm("121014")
DEVICE_OBSERVER_MODEL = dcm("121015")
DEVICE_OBSERVER_SERIAL = dcm("121016")
DEVICE_OBSERVER_LOCATION = dcm("121017")

# device participant (TID 1021)
DEVICE_ROLE_IN_PROCEDURE = dcm("113876")
DEVICE_NAME = dcm("113877")
DEVICE_MANUFACTURER = dcm("113878")
DEVICE_MODEL = dcm("113879")
DEVICE_SERIAL = dcm("113880")
PERSON_NAME = dcm("113870")

# --- CT (TID 10011 .. 10015) ---------------------------------------------------
CT_ACCUMULATED = dcm("113811")
TOTAL_EVENTS = dcm("113812")
CT_DLP_TOTAL = dcm("113813")
CT_ACQUISITION = dcm("113819")
CT_ACQUISITION_TYPE = dcm("113820")
CT_ACQUISITION_PARAMETERS = dcm("113822")
CT_DOSE = dcm("113829")
CT_SOURCE_PARAMETERS = dcm("113831")
SOURCE_ID = dcm("113832")
NUMBER_OF_SOURCES = dcm("113823")
EXPOSURE_TIME = dcm("113824")
EXPOSURE_TIME_OLD = dcm("113735")  # "Exposure Time" of earlier editions, still sent
SCANNING_LENGTH = dcm("113825")
SINGLE_COLLIMATION = dcm("113826")
TOTAL_COLLIMATION = dcm("113827")
PITCH = dcm("113828")
MEAN_CTDIVOL = dcm("113830")
MAX_TUBE_CURRENT = dcm("113833")
EXPOSURE_TIME_PER_ROTATION = dcm("113834")
PHANTOM_TYPE = dcm("113835")
DLP = dcm("113838")
SSDE = dcm("113930")
PROTOCOL = dcm("125203")
TARGET_REGION = dcm("123014")
PROCEDURE_CONTEXT = sct("408730004")
IRRADIATION_EVENT_UID = dcm("113769")
HEAD16_PHANTOM = dcm("113690")
BODY32_PHANTOM = dcm("113691")

# dose check (TID 10015)
DOSE_CHECK_ALERT = dcm("113900")
DOSE_CHECK_NOTIFICATION = dcm("113908")
DLP_ALERT_CONFIGURED = dcm("113901")
CTDIVOL_ALERT_CONFIGURED = dcm("113902")
DLP_ALERT_VALUE = dcm("113903")
CTDIVOL_ALERT_VALUE = dcm("113904")
ACCUMULATED_DLP_FORWARD = dcm("113905")
ACCUMULATED_CTDIVOL_FORWARD = dcm("113906")
REASON_FOR_PROCEEDING = dcm("113907")
DLP_NOTIFICATION_CONFIGURED = dcm("113909")
CTDIVOL_NOTIFICATION_CONFIGURED = dcm("113910")
DLP_NOTIFICATION_VALUE = dcm("113911")
CTDIVOL_NOTIFICATION_VALUE = dcm("113912")
DLP_FORWARD = dcm("113913")
CTDIVOL_FORWARD = dcm("113914")
YES = sct("373066001")
NO = sct("373067005")

# --- projection X-ray (TID 10001 .. 10007) ---------------------------------------
ACCUMULATED_XRAY = dcm("113702")
ACQUISITION_PLANE = dcm("113764")
PLANE_SINGLE = dcm("113622")
PLANE_A = dcm("113620")
PLANE_B = dcm("113621")
DAP_TOTAL = dcm("113722")
DOSE_RP_TOTAL = dcm("113725")
FLUORO_DAP_TOTAL = dcm("113726")
ACQUISITION_DAP_TOTAL = dcm("113727")
FLUORO_DOSE_RP_TOTAL = dcm("113728")
ACQUISITION_DOSE_RP_TOTAL = dcm("113729")
TOTAL_FLUORO_TIME = dcm("113730")
TOTAL_FRAMES = dcm("113731")
TOTAL_ACQUISITION_TIME = dcm("113855")
REFERENCE_POINT_DEFINITION = dcm("113780")
ACCUMULATED_AGD = dcm("111637")
LATERALITY = sct("272741003")

IRRADIATION_EVENT = dcm("113706")
DATETIME_STARTED = dcm("111526")
EVENT_TYPE = dcm("113721")
FLUOROSCOPY = sct("44491008")
ANATOMICAL_STRUCTURE = sct("91723000")
IMAGE_VIEW = dcm("111031")
DAP = dcm("122130")
DOSE_RP = dcm("113738")
KVP = dcm("113733")
TUBE_CURRENT = dcm("113734")
AVERAGE_TUBE_CURRENT = dcm("113767")
EXPOSURE = dcm("113736")
IRRADIATION_DURATION = dcm("113742")
PULSE_RATE = dcm("113791")
NUMBER_OF_PULSES = dcm("113768")
PULSE_WIDTH = dcm("113793")
NUMBER_OF_FRAMES = dcm("113801")  # not standard in TID 10003; some vendors send it
FOCAL_SPOT = dcm("113766")
ANODE_TARGET = dcm("111632")
XRAY_FILTERS = dcm("113771")
FILTER_TYPE = dcm("113772")
FILTER_MATERIAL = dcm("113757")
FILTER_THICKNESS_MIN = dcm("113758")
FILTER_THICKNESS_MAX = dcm("113773")
XRAY_GRID = dcm("111635")
FIELD_AREA = dcm("113790")
FIELD_HEIGHT = dcm("113788")
FIELD_WIDTH = dcm("113789")
PRIMARY_ANGLE = dcm("112011")
SECONDARY_ANGLE = dcm("112012")
PRIMARY_END_ANGLE = dcm("113739")
SECONDARY_END_ANGLE = dcm("113740")
COLUMN_ANGULATION = dcm("113770")
SOURCE_TO_DETECTOR = dcm("113750")
SOURCE_TO_ISOCENTER = dcm("113748")
SOURCE_TO_REFERENCE_POINT = dcm("113737")
TABLE_LONGITUDINAL = dcm("113751")
TABLE_LATERAL = dcm("113752")
TABLE_HEIGHT = dcm("113753")
HALF_VALUE_LAYER = dcm("111634")
ENTRANCE_EXPOSURE = dcm("111636")
AGD = dcm("111631")
COMPRESSION_THICKNESS = dcm("111633")
COMPRESSION_FORCE = dcm("111647")
MECHANICAL_CONFIGURATION = dcm("113956")
PATIENT_ORIENTATION = dcm("113743")
PATIENT_ORIENTATION_MODIFIER = dcm("113744")
PATIENT_TABLE_RELATIONSHIP = dcm("113745")
FLUORO_MODE = dcm("113732")
EXPOSURE_INDEX = dcm("113845")
TARGET_EXPOSURE_INDEX = dcm("113846")
DEVIATION_INDEX = dcm("113847")

PLANES: dict[str, str] = {PLANE_SINGLE: "single", PLANE_A: "A", PLANE_B: "B"}

# Laterality values: the general codes (Left/Right/Both) and the breast-specific
# ones used for mammography accumulated AGD (TID 10005).
LATERALITIES: dict[str, str] = {
    sct("7771000"): "L",
    sct("24028007"): "R",
    sct("51440002"): "B",
    sct("80248007"): "L",
    sct("73056007"): "R",
    sct("63762007"): "B",
}

PHANTOMS: dict[str, str] = {HEAD16_PHANTOM: "head16", BODY32_PHANTOM: "body32"}
