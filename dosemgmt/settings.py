"""All settings, read from the environment in one place.

With nothing set, the product runs embedded: SQLite under the data directory,
no broker (Celery tasks run in-process), SCP on port 11112.
"""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _env_bool(name: str, default: bool = False) -> bool:
    value = _env(name)
    if not value:
        return default
    return value.lower() in ("1", "true", "yes", "on")


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    return int(value) if value else default


def _env_float(name: str, default: float) -> float:
    value = _env(name)
    return float(value) if value else default


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in _env(name, default).split(",") if item.strip()]


DATA_DIR = Path(_env("DOSEMGMT_DATA_DIR", str(BASE_DIR / "data"))).resolve()
SPOOL_DIR = Path(_env("DOSEMGMT_SPOOL_DIR", str(DATA_DIR / "spool"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    # Embedded installs get a random key kept in the data directory, so sessions
    # survive restarts without anyone having to invent a secret.
    key = _env("DJANGO_SECRET_KEY")
    if key:
        return key
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = _env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "dosemgmt",
    "rdsr",
    "ingest",
    "drl",
    "alerts",
    "audit",
    "ris",
    "exports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dosemgmt.urls"
WSGI_APPLICATION = "dosemgmt.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "alerts.context_processors.open_alerts",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        _env("DATABASE_URL", f"sqlite:///{DATA_DIR / 'dosemgmt.sqlite3'}"),
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded mode writes from the SCP, the worker threads and the web at
    # once: WAL lets readers go on during a write, IMMEDIATE takes the write
    # lock at BEGIN so two writers queue instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not Django's in-memory default: the SCP and worker threads of the
    # tests must see the same database as the test itself.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
elif _env_bool("DATABASE_POOL", False):
    DATABASES["default"]["OPTIONS"] = {"pool": True}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "study-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = _env("DOSEMGMT_TIME_ZONE", "Europe/Berlin")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(_env("DOSEMGMT_STATIC_ROOT", str(DATA_DIR / "static")))
# WhiteNoise warns on every request until collectstatic (run by `serve`) fills it.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- DICOM -------------------------------------------------------------------
DICOM_AE_TITLE = _env("DOSEMGMT_AE_TITLE", "DOSEMGMT")
DICOM_BIND_ADDRESS = _env("DOSEMGMT_SCP_BIND", "0.0.0.0")
DICOM_PORT = _env_int("DOSEMGMT_SCP_PORT", 11112)
# Empty: any calling AE title may send. Otherwise only these may associate.
DICOM_ALLOWED_CALLING_AES = _env_list("DOSEMGMT_SCP_ALLOWED_AES")

# --- HL7 (MLLP from the RIS/HIS) ----------------------------------------------
HL7_BIND_ADDRESS = _env("DOSEMGMT_HL7_BIND", "0.0.0.0")
HL7_PORT = _env_int("DOSEMGMT_HL7_PORT", 2575)
# Hours after an order's scheduled time before it counts as "no dose data yet".
HL7_ORDER_GRACE_HOURS = _env_int("DOSEMGMT_ORDER_GRACE_HOURS", 24)

# --- Alerts and e-mail ----------------------------------------------------------
# Django's mail settings; without EMAIL_HOST the embedded install writes mails to the log.
EMAIL_HOST = _env("EMAIL_HOST")
EMAIL_PORT = _env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = _env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = _env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 30
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = _env("DEFAULT_FROM_EMAIL", "dosemgmt@localhost")
# Local time (HH:MM) of the daily digest, and what an empty one does: "send" (says
# there is nothing to report) or "skip".
ALERTS_DIGEST_TIME = _env("DOSEMGMT_DIGEST_TIME", "07:00")
ALERTS_DIGEST_WHEN_EMPTY = _env("DOSEMGMT_DIGEST_WHEN_EMPTY", "send")
# Beat's crontab entries (the digest) run on the hospital's local time.
CELERY_TIMEZONE = TIME_ZONE
# How links in e-mails start, e.g. https://dose.hospital.example
ALERTS_BASE_URL = _env("DOSEMGMT_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

WEB_BIND_ADDRESS = _env("DOSEMGMT_WEB_BIND", "127.0.0.1")
WEB_PORT = _env_int("DOSEMGMT_WEB_PORT", 8000)
# Link from every dose value to its images, e.g. a PACS viewer or a DICOMweb address:
# "https://pacs.example/viewer?StudyInstanceUID={study_instance_uid}" ({accession_number} and
# {patient_id} work too). Empty: no image links.
VIEWER_URL_TEMPLATE = _env("DOSEMGMT_VIEWER_URL_TEMPLATE")

# --- Exports -----------------------------------------------------------------
# Files of background exports; served to staff only, removed after EXPORT_KEEP_DAYS.
EXPORT_DIR = Path(_env("DOSEMGMT_EXPORT_DIR", str(DATA_DIR / "exports"))).resolve()
EXPORT_KEEP_DAYS = _env_int("DOSEMGMT_EXPORT_KEEP_DAYS", 7)
# A list export with more rows than this runs as a background job, not in the request.
EXPORT_DIRECT_MAX_ROWS = _env_int("DOSEMGMT_EXPORT_DIRECT_MAX_ROWS", 50000)


def _export_secret() -> str:
    # The key of the pseudonyms (HMAC-SHA256) in national exports: one per
    # installation, kept, so that repeated exports stay linkable. Losing it
    # breaks that link; it must never be shared with the recipients.
    secret = _env("DOSEMGMT_EXPORT_SECRET")
    if secret:
        return secret
    secret_file = DATA_DIR / "export_secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(48))
        secret_file.chmod(0o600)
    return secret_file.read_text().strip()


EXPORT_SECRET = _export_secret()

# --- Celery ------------------------------------------------------------------
CELERY_BROKER_URL = _env("CELERY_BROKER_URL") or None
# No broker: tasks run in-process. Retries must not turn into exceptions in the
# embedded server (the sweeper picks the object up again), only in tests.
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = _env_bool("CELERY_TASK_EAGER_PROPAGATES", False)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "ingest"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis redelivers an unacknowledged task after this long when a whole
    # worker died; the sweeper is the second line of defence.
    "visibility_timeout": _env_int("CELERY_VISIBILITY_TIMEOUT", 600),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# An object that stays unprocessed this long after receipt is re-enqueued.
SWEEPER_STALE_AFTER_SECONDS = _env_int("DOSEMGMT_SWEEPER_STALE_AFTER", 120)
SWEEPER_INTERVAL_SECONDS = _env_int("DOSEMGMT_SWEEPER_INTERVAL", 60)
# How long the SCP's receipt writer lets a burst gather before registering it in
# one transaction (the objects are already durable in spool/incoming meanwhile).
RECEIPT_BATCH_WAIT_SECONDS = _env_float("DOSEMGMT_RECEIPT_BATCH_WAIT", 0.02)
CELERY_BEAT_SCHEDULE = {
    "sweep-spool": {
        "task": "ingest.tasks.sweep_spool",
        "schedule": float(SWEEPER_INTERVAL_SECONDS),
        "options": {"queue": "ingest"},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": _env("DOSEMGMT_LOG_LEVEL", "INFO")},
    "loggers": {
        "pynetdicom": {"level": "WARNING"},
        "django.db.backends": {"level": "WARNING"},
    },
}
