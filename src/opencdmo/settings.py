"""Settings, read from the environment (DESIGN.md, "Configuration")."""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent


def _env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


DATA_DIR = Path(os.environ.get("OPENCDMO_DATA_DIR", Path.cwd() / "data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
FILE_STORE_DIR = DATA_DIR / "files"


def _secret_key() -> str:
    """The key comes from the environment or is made once per installation, never from the repo.

    It also keys the seals of the audit trail's chains: a database restored without its key
    must not quietly get a new one, so a missing key next to an existing database is an error.
    """
    if key := os.environ.get("OPENCDMO_SECRET_KEY"):
        return key
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists() and (DATA_DIR / "opencdmo.sqlite3").exists():
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"{key_file} is missing but {DATA_DIR / 'opencdmo.sqlite3'} exists: restore the secret key "
            "with the database (it seals the audit trail), or set OPENCDMO_SECRET_KEY."
        )
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("OPENCDMO_DEBUG")
ALLOWED_HOSTS = [h for h in os.environ.get("OPENCDMO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("OPENCDMO_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",
    "opencdmo.core",
    "opencdmo.sponsors",
    "opencdmo.documents",
    "opencdmo.training",
    "opencdmo.quality",
    "opencdmo.facilities",
    "opencdmo.materials",
    "opencdmo.processes",
    "opencdmo.identity",
    "opencdmo.qc",
    "opencdmo.batches",
    "opencdmo.envmon",
    "opencdmo.release",
    "opencdmo.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "opencdmo.core.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "opencdmo.core.middleware.AuditContextMiddleware",
    "opencdmo.core.middleware.DomainErrorMiddleware",
    "opencdmo.core.middleware.PasswordChangeMiddleware",
]

ROOT_URLCONF = "opencdmo.urls"
WSGI_APPLICATION = "opencdmo.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "opencdmo.core.context_processors.navigation",
            ],
        },
    }
]

_sqlite_path = DATA_DIR / "opencdmo.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("OPENCDMO_DATABASE_URL") or f"sqlite:///{_sqlite_path}",
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # Writers take the lock at BEGIN, so concurrent writers queue instead of failing
        # mid-transaction; FULL sync because a committed GMP entry must survive a power cut.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test_opencdmo.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = ["opencdmo.core.auth.LockoutAwareBackend"]
LOGIN_URL = "core:login"
LOGIN_REDIRECT_URL = "core:home"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Industry conventions, not regulation (P11-6, P11-7): settings with defaults.
SESSION_TIMEOUT_MIN = int(os.environ.get("OPENCDMO_SESSION_TIMEOUT_MIN", "15"))
SESSION_COOKIE_AGE = SESSION_TIMEOUT_MIN * 60
SESSION_SAVE_EVERY_REQUEST = True  # inactivity timeout: each request renews the session
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
LOCKOUT_FAILURES = int(os.environ.get("OPENCDMO_LOCKOUT_FAILURES", "5"))
LOCKOUT_WINDOW_MIN = int(os.environ.get("OPENCDMO_LOCKOUT_WINDOW_MIN", "15"))
SPORICIDAL_ROTATION_DAYS = int(os.environ.get("OPENCDMO_SPORICIDAL_ROTATION_DAYS", "7"))
EQUIPMENT_DUE_WARNING_DAYS = int(os.environ.get("OPENCDMO_EQUIPMENT_DUE_WARNING_DAYS", "30"))
AUDIT_CHAIN_LANES = int(os.environ.get("OPENCDMO_AUDIT_CHAIN_LANES", "32"))

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("OPENCDMO_TIME_ZONE", "Europe/Berlin")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

STATIC_ROOT.mkdir(parents=True, exist_ok=True)

X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy: secure cookies and trust its X-Forwarded-Proto header.
if _env_bool("OPENCDMO_HTTPS"):
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("OPENCDMO_LOG_LEVEL", "WARNING")},
}
