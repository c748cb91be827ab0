"""Settings, read from the environment.

Every value has a safe default for local use; production sets ``DJANGO_DEBUG=false``,
``DJANGO_SECRET_KEY`` and ``DATABASE_URL`` (see README, "Production settings").
"""

import datetime
import warnings
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from walletproject.envvars import adopt_renamed

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None
adopt_renamed()  # the names renamed to WALLETS_* in 0.2 keep working, with a warning, for one release

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# A development-only key is generated per checkout when none is given; production must set one.
_dev_key_file = BASE_DIR / ".dev-secret-key"
if "DJANGO_SECRET_KEY" in env:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")
elif DEBUG:
    if not _dev_key_file.exists():
        import secrets

        _dev_key_file.write_text(secrets.token_urlsafe(50))
    SECRET_KEY = _dev_key_file.read_text().strip()
else:  # pragma: no cover - refuses to start without a key in production
    raise environ.ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "walletproject.apps.WalletsAdminConfig",  # django.contrib.admin, superusers only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",  # OpClass in index expressions (the search box's prefix indexes)
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_tasks_db",  # the task queue's table (django.tasks' database backend)
    "wallets",
    "wallets.dashboard",
    "axes",
]

MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",  # first: every API answer, errors too, carries the CORS headers
    "wallets.http.middleware.ApiHttpsRequiredMiddleware",  # plain HTTP to the API: JSON 403, not a 301
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # gunicorn serves /static/ itself: no proxy needed for it
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "wallets.http.middleware.RequestIdMiddleware",
    "wallets.http.middleware.ChunkedBodyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "wallets.dashboard.middleware.TimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
]

ROOT_URLCONF = "walletproject.urls"
APPEND_SLASH = False  # the API has no trailing slashes; a redirect would break the SDKs

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
                "django.template.context_processors.csp",
            ],
        },
    },
]

WSGI_APPLICATION = "walletproject.wsgi.application"

# --- Database -------------------------------------------------------------------------------
# PostgreSQL in production (DATABASE_URL=postgres://...), SQLite embedded by default.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite has one writer: take the write lock at BEGIN so two posting transactions queue
    # instead of failing with "database is locked" on lock upgrade.
    _db.setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that sends nothing while the socket is quiet.
    _db["ENGINE"] = "walletproject.db.postgresql"
    _db["CONN_MAX_AGE"] = env.int("WALLETS_DB_CONN_MAX_AGE", default=60)
    _db["CONN_HEALTH_CHECKS"] = True
    # A stuck client must not hold a wallet row forever: bounded lock waits and statements.
    _timeouts = "-c lock_timeout={} -c statement_timeout={} -c idle_in_transaction_session_timeout={}".format(
        env.int("WALLETS_DB_LOCK_TIMEOUT_MS", default=5000),
        env.int("WALLETS_DB_STATEMENT_TIMEOUT_MS", default=30000),
        env.int("WALLETS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", default=60000),
    )
    _db.setdefault("OPTIONS", {}).setdefault("options", _timeouts)
    _db["OPTIONS"].setdefault("connect_timeout", env.int("WALLETS_DB_CONNECT_TIMEOUT_S", default=5))
    # WALLETS_DB_POOL=min:max: Django's psycopg pool per process instead of one persistent connection
    # per thread (docs/sharding.md, "Connection pooling"); Django requires CONN_MAX_AGE=0 with it.
    if _pool := env.str("WALLETS_DB_POOL", default=""):
        _min, _, _max = _pool.partition(":")
        if not (_min.isdigit() and _max.isdigit() and int(_max) > 0 and int(_min) <= int(_max)):
            raise ImproperlyConfigured(f"WALLETS_DB_POOL must be min:max, 0 <= min <= max, max > 0; got {_pool!r}")
        _db["CONN_MAX_AGE"] = 0
        _db["OPTIONS"]["pool"] = {"min_size": int(_min), "max_size": int(_max),
                                  "timeout": env.float("WALLETS_DB_POOL_TIMEOUT_S", default=10.0)}
_db.setdefault("TEST", {})
if env.str("WALLETS_DB_TEST_NAME", default=""):
    _db["TEST"]["NAME"] = env.str("WALLETS_DB_TEST_NAME")

# --- Read replicas (docs/operations.md, "Read replicas") ------------------------------------
# DATABASE_REPLICA_URLS: comma-separated standbys of DATABASE_URL, each an alias replica_0, replica_1 …
# with default's engine options. Only the views that opt in (walletproject.db_router.reads_from_replica:
# dashboard pages, ledger history, statements, exports, analytics) read them; empty: everything on default.
DATABASE_REPLICA_URLS = env.list("DATABASE_REPLICA_URLS", default=[])
WALLETS_REPLICA_MAX_LAG_SECONDS = env.float("WALLETS_REPLICA_MAX_LAG_SECONDS", default=5.0)
WALLETS_REPLICA_STICKY_SECONDS = env.float("WALLETS_REPLICA_STICKY_SECONDS", default=5.0)
WALLETS_REPLICA_CHECK_SECONDS = env.float("WALLETS_REPLICA_CHECK_SECONDS", default=1.0)
for _n, _replica_url in enumerate(DATABASE_REPLICA_URLS):
    _replica = env.db_url_config(_replica_url)
    _both_postgresql = "postgresql" in _replica["ENGINE"] and "postgresql" in _db["ENGINE"]
    if _replica["ENGINE"] != _db["ENGINE"] and not _both_postgresql:
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URLS[{_n}] is {_replica['ENGINE']}, DATABASE_URL {_db['ENGINE']}")
    _replica["ENGINE"] = _db["ENGINE"]  # the primary's backend class, whatever the URL's scheme named
    for _name in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
        if _name in _db:
            _replica[_name] = _db[_name]
    _replica["OPTIONS"] = {**_db.get("OPTIONS", {}), **_replica.get("OPTIONS", {})}
    # A replica that does not answer must cost little: reads fall back to default.
    _replica["OPTIONS"]["connect_timeout"] = env.int("WALLETS_REPLICA_CONNECT_TIMEOUT_S", default=2)
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES[f"replica_{_n}"] = _replica
if DATABASE_REPLICA_URLS:
    DATABASE_ROUTERS = ["walletproject.db_router.ReplicaRouter"]
    # After sessions and authentication: remembers a client's write for WALLETS_REPLICA_STICKY_SECONDS.
    MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                      "walletproject.db_router.ReadYourWritesMiddleware")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Production: CACHE_URL=redis://host:6379/0, so the per-key rate limit is counted once for
# every gunicorn worker and host (the local-memory default counts per process).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://wallets")}
CACHES["default"].setdefault("KEY_PREFIX", env.str("WALLETS_CACHE_KEY_PREFIX", default="wallets"))
if "redis" in CACHES["default"]["BACKEND"].lower():
    # A cache outage must cost milliseconds, not a request: every cache call is guarded (a cache error
    # means "ask the database"), and an unreachable Redis must fail fast rather than hang the worker.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault(
        "socket_connect_timeout", env.float("WALLETS_CACHE_CONNECT_TIMEOUT_S", default=0.25))
    CACHES["default"]["OPTIONS"].setdefault("socket_timeout", env.float("WALLETS_CACHE_TIMEOUT_S", default=0.5))
# Found API keys are kept per process for this many seconds (0: never). Every use is still confirmed
# against the database (a primary-key lookup, or inside a posting's own lock statement), so a revoked
# key fails at once in every process, with or without a shared cache (wallets/services/api_keys.py).
WALLETS_API_KEY_CACHE_SECONDS = env.float("WALLETS_API_KEY_CACHE_SECONDS", default=300.0)

# --- Background tasks (django.tasks) --------------------------------------------------------
# Django's own tasks framework. By default its queue is a table in the app's database (django-tasks-db),
# worked by ``python manage.py run_worker``: no broker to run, on SQLite and PostgreSQL alike.
# WALLETS_TASKS_BACKEND (a dotted path to a django.tasks backend class) swaps in another queue, e.g. a
# broker-backed one, which then brings its own worker (run_worker works the database backend only).
TASKS = {"default": {"BACKEND": env.str("WALLETS_TASKS_BACKEND", default="django_tasks_db.DatabaseBackend")}}
_TASKS_SILENCED_CHECKS: list[str] = []
if TASKS["default"]["BACKEND"] == "django_tasks_celery.CeleryBackend":
    # Celery with RabbitMQ (the optional `celery` extra; docs/operations.md, "Celery with RabbitMQ"):
    # tasks go to the broker and `celery -A walletproject worker` runs them (walletproject/celery.py,
    # which reads the CELERY_* settings here). No result backend: nothing reads a task's result (the
    # database queue's result rows are its own bookkeeping), so the library's two warnings about
    # get_result() are silenced. Publishes wait for the broker's confirm, so an enqueue that returned is
    # in RabbitMQ. WALLETS_CELERY_QUEUE names the queue (several deployments can share one broker).
    TASKS["default"]["OPTIONS"] = {"CELERY_APP": "walletproject.celery.app"}
    CELERY_BROKER_URL = env.str("WALLETS_CELERY_BROKER_URL", default="amqp://guest:guest@127.0.0.1:5672//")
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
    CELERY_TASK_DEFAULT_QUEUE = env.str("WALLETS_CELERY_QUEUE", default="wallets")
    _TASKS_SILENCED_CHECKS = ["django_tasks_celery.W001", "django_tasks_celery.W002"]
# Seconds between two runs of the expiry sweep (wallets.tasks.sweep_expiries): due grants and holds
# that no posting has expired yet are expired by the worker within about this long.
WALLETS_SWEEP_INTERVAL = env.float("WALLETS_SWEEP_INTERVAL", default=30.0)

# Results of finished background tasks are deleted by the sweep after this many hours.
WALLETS_TASK_RESULT_RETENTION_HOURS = env.float("WALLETS_TASK_RESULT_RETENTION_HOURS", default=24.0)

# Bulk credit from the dashboard (wallets.services.bulk_runs): the largest file accepted, in bytes and
# rows (the preview is the service's dry run inside the upload's request: it holds the file's wallet
# locks while it decides, about 2 s for 5,000 rows; bigger files go to manage.py bulk_credit); rows per
# transaction of the worker's run; seconds without progress after which a run counts as stalled
# (its worker was killed) and the sweep enqueues it again.
WALLETS_BULK_MAX_BYTES = env.int("WALLETS_BULK_MAX_BYTES", default=2 * 1024 * 1024)
WALLETS_BULK_MAX_ROWS = env.int("WALLETS_BULK_MAX_ROWS", default=5_000)
WALLETS_BULK_BATCH_SIZE = env.int("WALLETS_BULK_BATCH_SIZE", default=500)
WALLETS_BULK_STALL_SECONDS = env.float("WALLETS_BULK_STALL_SECONDS", default=120.0)

# Coalescing (wallets/ledger/coalesce.py, docs/architecture.md#coalescing-postings): concurrent
# postings on one wallet in one process share one lock and one commit. Off by default; it helps only
# a hot wallet served by several threads of one process (gthread with WALLETS_GUNICORN_THREADS > 2).
WALLETS_COALESCE_POSTINGS = env.bool("WALLETS_COALESCE_POSTINGS", default=False)
WALLETS_COALESCE_MAX_BATCH = env.int("WALLETS_COALESCE_MAX_BATCH", default=64)
# How long a queued posting waits for its turn before it posts alone (taken into a batch, it waits for
# the batch's answer).
WALLETS_COALESCE_WAIT_S = env.float("WALLETS_COALESCE_WAIT_S", default=5.0)

# --- Webhooks (API-NOTES, "Webhooks") -------------------------------------------------------
# Seconds between a failed attempt and the next: Dodo's schedule (5 s, 5 min, 30 min, 2 h, 5 h,
# 10 h, 10 h), so a message gets 8 attempts. Comma-separated seconds; tests set a short one.
def _retry_schedule(text: str) -> list[float]:
    try:
        schedule = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        schedule = [-1.0]
    if any(not 0 <= s < float("inf") for s in schedule):
        raise ImproperlyConfigured(f"WEBHOOK_RETRY_SCHEDULE={text!r}: give seconds, comma-separated, e.g. 5,300,1800")
    return schedule


WEBHOOK_RETRY_SCHEDULE = _retry_schedule(env.str("WEBHOOK_RETRY_SCHEDULE", default="5,300,1800,7200,18000,36000,36000"))
# Seconds a receiver has to answer one attempt.
WEBHOOK_TIMEOUT_S = env.float("WEBHOOK_TIMEOUT_S", default=15.0)
# Deliveries to loopback, private or link-local addresses are refused (SSRF), checked on the
# resolved address of every attempt; true only for local development and tests.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
# Days an event and its delivery log are kept (once nothing of it is pending); the sweep prunes older.
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Brute-force limit on every password login (dashboard and admin), by django-axes: after
# AXES_FAILURE_LIMIT wrong passwords for one user name from one address, that pair is refused (even
# with the right password) for AXES_COOLOFF_TIME; a success resets the count. Locking the pair, not
# the user name alone, keeps a stranger from locking a real user out. Lockouts are written to the
# security log (wallets.audit); a superuser lifts one early in the admin (Axes: access attempts).
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out login before any password hash. AxesBackend rather than the
    # standalone one: it is also a full ModelBackend (get_user), so code that takes the first
    # backend for a session (force_login, bench's dashboard session) keeps working.
    "axes.backends.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",  # sessions made before the limit name this one
]
AXES_FAILURE_LIMIT = env.int("WALLETS_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("WALLETS_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "wallets.http.client_ip.client_ip"  # DJANGO_BEHIND_PROXY aware
AXES_DISABLE_ACCESS_LOG = True  # logins are in the security log already
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/dashboard/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
# WhiteNoise serves the static files from the app itself (gunicorn, no proxy). It finds them where
# they live (the apps' and static/), so no collectstatic step is needed; after one, it also serves
# the compressed copies collectstatic writes to STATIC_ROOT.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Without collectstatic (optional, see above) STATIC_ROOT does not exist, and WhiteNoise would warn
# about it at every start.
warnings.filterwarnings("ignore", message="No directory at: ", category=UserWarning)

# --- Security (production) ----------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_PROXY", default=False) else None
)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # a load balancer's plain-HTTP health probe is not redirected
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
# Content Security Policy (Django's own middleware): everything from this origin, nothing from
# elsewhere. Scripts: same-origin files, or inline ones carrying the per-request nonce (the
# Swagger UI and Redoc start-up scripts). Inline styles are allowed because Swagger UI, Redoc
# and DRF's browsable API set style attributes; images and fonts may be data: URIs (Swagger UI's
# icons); Redoc runs a blob: worker.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "worker-src": [CSP.SELF, "blob:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- CORS (django-cors-headers) -------------------------------------------------------------
# Browser origins allowed to call the API (e.g. "https://shop.example.com,https://admin.example.com");
# none by default. Only the API's paths: the dashboard and admin are same-origin pages.
CORS_ALLOWED_ORIGINS = env.list("WALLETS_CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(?!dashboard|admin|accounts|static)"
CORS_ALLOW_CREDENTIALS = False  # bearer keys, never cookies, cross-origin
# What Dodo's SDKs send from a browser: the default headers, the idempotency key and Stainless' own.
CORS_ALLOW_HEADERS = [
    "accept", "authorization", "content-type", "user-agent", "x-requested-with", "idempotency-key",
    "x-request-id", "x-stainless-arch", "x-stainless-lang", "x-stainless-os", "x-stainless-package-version",
    "x-stainless-retry-count", "x-stainless-runtime", "x-stainless-runtime-version", "x-stainless-timeout",
    "x-stainless-async", "x-stainless-helper-method", "x-stainless-poll-helper", "x-stainless-custom-poll-interval",
]
CORS_EXPOSE_HEADERS = ["Idempotent-Replayed", "Retry-After", "X-Request-Id"]

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "wallets.api.auth.ApiKeyAuthentication",
        "wallets.api.auth.BusinessSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["wallets.api.auth.HasBusiness"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["wallets.http.parsers.StrictJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "wallets.api.negotiation.ApiContentNegotiation",
    "DEFAULT_FILTER_BACKENDS": ["wallets.api.filtering.DodoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["wallets.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env.str("WALLETS_API_RATE_LIMIT", default="6000/min")},
    "EXCEPTION_HANDLER": "wallets.http.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Wallets API",
    "DESCRIPTION": (
        "Customer wallets and an append-only ledger, wire-compatible with Dodo Payments' "
        "Customer Wallets API. Authenticate with `Authorization: Bearer <key>`."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"CurrencyEnum": "wallets.money.DODO_CURRENCIES",
                            "HoldStatusEnum": "wallets.models.Hold.Status",
                            "EventTypeEnum": "wallets.models.LedgerEntry.EventType",
                            "PostableEventTypeEnum": "wallets.api.serializers.POSTABLE_EVENT_TYPE_CHOICES"},
}

# --- The product --------------------------------------------------------------------------
# Wallets that exist (balance 0) as soon as a customer is created.
WALLET_DEFAULT_CURRENCIES = env.list("WALLETS_DEFAULT_CURRENCIES", default=["USD", "INR"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    # httpx logs every request at INFO: one line per webhook attempt (the delivery log has them).
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"},
                "httpcore": {"level": "WARNING"},
                # WeasyPrint logs each layout step of every statement PDF at INFO.
                "weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}
# A wallet whose balance is below this many major units (10.00 USD, ₹10.00, ¥10) is "low",
# unless the business set its own threshold for the currency (CurrencyPolicy).
WALLET_LOW_BALANCE_DEFAULT = env.str("WALLETS_LOW_BALANCE_DEFAULT", default="10")

# models.W040: SQLite ignores an index's INCLUDE columns (ledger_customer_ccy_recent covers the
# statement's reads on PostgreSQL); on SQLite the same index serves by its keys alone.
SILENCED_SYSTEM_CHECKS = ["models.W040", *_TASKS_SILENCED_CHECKS]
