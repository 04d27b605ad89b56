"""Deployment settings, read once from the environment (prefix ``GONGJIAN_``).

Development defaults make ``make run`` work on a fresh machine; production mode refuses
them, so a forgotten secret cannot ship.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Well-known development values; production refuses every one of them.
DEV_SECRET_KEY = "dev-only-jwt-secret-change-me-0123456789abcdef"
DEV_PII_KEY = base64.b64encode(b"dev-only-pii-encryption-key-32b!").decode()
DEV_PII_INDEX_KEY = "dev-only-pii-blind-index-key"
DEMO_PASSWORD = "gongjian-demo"
# The object store's keys in development (``make run-split`` starts SeaweedFS with them).
DEV_S3_ACCESS_KEY = "gongjian-dev"
DEV_S3_SECRET_KEY = "dev-only-s3-secret-key-change-me-0123456789"

SERVICE_NAMES = ("registry", "grid", "volunteer", "assessment")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GONGJIAN_", extra="ignore", populate_by_name=True)

    env: Literal["development", "test", "production"] = "development"
    # embedded: the gateway and every service in one process; split: a process each.
    mode: Literal["embedded", "split"] = "embedded"
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    # Empty means one SQLite file per service under data_dir (the embedded mode).
    database_url: str = Field(
        default="", validation_alias=AliasChoices("GONGJIAN_DATABASE_URL", "DATABASE_URL")
    )
    db_pool_size: int = 10
    db_echo: bool = False
    timezone: str = "Asia/Shanghai"

    secret_key: str = DEV_SECRET_KEY
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "gongjian"
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 30 * 24 * 3600

    # AES-256-GCM key for personal data at rest (base64 of 32 bytes), and the HMAC key of
    # the blind index that lets us find a record by exact ID number or phone.
    pii_key: str = DEV_PII_KEY
    pii_index_key: str = DEV_PII_INDEX_KEY

    login_max_failures: int = 5
    login_failure_window_s: int = 15 * 60
    login_lock_s: int = 15 * 60

    wechat_provider: Literal["fake", "real"] = "fake"
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_api_base: str = "https://api.weixin.qq.com"
    # Notifications 消息 through subscribe messages 订阅消息: the template id of each kind of
    # message (JSON: GONGJIAN_WECHAT_TEMPLATES='{"case_dispatched": "tmpl-id", ...}'); a kind
    # without a template stays in the in-app inbox. Templates take the fields thing1 (title),
    # thing2 (summary) and time3 (when). The fake provider (development, tests) sends
    # nowhere and keeps what it was given.
    wechat_subscribe_provider: Literal["fake", "real"] = "fake"
    wechat_templates: dict[str, str] = {}
    # Kinds whose templates are long-term subscriptions (open to 政务民生 services).
    wechat_long_term_kinds: list[str] = []
    wechat_miniprogram_state: Literal["developer", "trial", "formal"] = "formal"
    # A failed delivery is tried again after base × 2^attempts seconds, this many times.
    notification_retry_base_s: float = Field(default=30.0, gt=0)
    notification_max_attempts: int = Field(default=5, ge=1, le=20)

    # Requests per minute, over any sliding minute (gateway/ratelimits.py). The counts live
    # in this process (`memory`) or in the gateway's database, shared by every gateway
    # replica (`database`); `auto` shares them in the split mode. Shared counts are synced
    # every `rate_limit_sync_s`, off the request path.
    rate_limit_ip_per_min: int = 1200
    rate_limit_user_per_min: int = 600
    rate_limit_store: Literal["auto", "memory", "database"] = "auto"
    rate_limit_sync_s: float = Field(default=0.25, gt=0)
    # Password logins cost ~0.2 s of hashing each: their own, much lower limits per client
    # address and per username, and at most this many hashes at once.
    login_rate_ip_per_min: int = 20
    login_rate_username_per_min: int = 10
    password_hash_concurrency: int = 2
    # Reverse proxies (addresses or networks) whose X-Forwarded-For is believed; behind the
    # shipped nginx, its address. Anyone else's X-Forwarded-For is ignored.
    trusted_proxies: list[str] = []
    # Request body limits in bytes: the default, and larger ones for upload paths.
    max_body_bytes: int = 2 * 1024 * 1024
    max_upload_bytes: int = 5 * 1024 * 1024
    max_import_bytes: int = 64 * 1024 * 1024

    # Files (uploads, the sealed import rosters) rest in an S3 bucket when an endpoint is
    # set: every replica reads what another wrote. Without one, under data_dir (embedded).
    s3_endpoint: str = ""
    s3_bucket: str = "gongjian"
    s3_access_key: str = DEV_S3_ACCESS_KEY
    s3_secret_key: str = DEV_S3_SECRET_KEY
    s3_region: str = "us-east-1"
    s3_connect_timeout_s: float = 2.0
    s3_read_timeout_s: float = 30.0
    s3_pool_size: int = 20

    # Under this age a resident's data is minors' data (PIPL art. 28, 31): marked, and the
    # birth date shown only to those who may read personal data in full.
    minor_age: int = 14
    # Imports up to this size (expanded, for an xlsx) are finished before the answer; larger
    # ones run on.
    import_inline_max_bytes: int = 256 * 1024
    # A spreadsheet is a zip: what it expands to is checked from the archive before anything
    # is parsed (a 300 KB file can hold a 300 MB string). openpyxl holds the shared strings
    # in memory, hence their own, lower limit.
    import_max_expanded_bytes: int = 256 * 1024 * 1024
    import_max_shared_strings_bytes: int = 32 * 1024 * 1024
    import_max_rows: int = 300_000
    import_max_columns: int = 64
    import_max_cell_chars: int = 2_000
    # An xlsx of up to this many cells (rows by its widest row) is read by python-calamine,
    # which holds the sheet (~95 MB for 1,000,000 cells of a roster) and reads it in a tenth
    # of openpyxl's time; a larger one is streamed by openpyxl, in flat memory.
    import_xlsx_in_memory_max_cells: int = 1_200_000
    # A roster of this size or more (as stored) is parsed in a process of its own, beside the
    # writer, rather than in a thread that shares its GIL (registry/imports/pipeline.py): the
    # process costs about a second to start, and ~9,000 rows of CSV take that to parse.
    import_parse_process_min_bytes: int = 1024 * 1024
    # A replica running an import holds it on a lease this long, renewed after every batch;
    # another replica takes a job up only once its lease has run out (its replica died).
    import_lease_s: int = 120
    # Grid cells: the community's 12 digits and a sequence of this many digits.
    grid_cell_seq_digits: int = 3
    # Two cells may share more than this much area (m²) only by mistake.
    grid_overlap_tolerance_m2: float = 10.0
    # An open case of the same category this near, this recent, is pointed out on report.
    grid_duplicate_radius_m: float = 50.0
    grid_duplicate_window_h: float = 72.0
    # Who answers for a case's step is reminded this long before its deadline, and once it
    # has passed; open cases are looked at this often.
    grid_due_soon_min: int = Field(default=60, ge=1)
    # How far ahead of the server a phone's clock may run before its visit is "in the future".
    grid_clock_skew_min: int = Field(default=5, ge=0)
    grid_reminder_interval_s: float = Field(default=60.0, gt=0)
    # A phone's sync cursor older than this must start over with a full sync.
    grid_sync_cursor_days: int = 30
    # Keys given to outside Open311 GeoReport clients, each bound to the area (code or code
    # prefix) whose public requests it may see and report in, as JSON in the environment:
    # GONGJIAN_OPEN311_KEYS='{"key-of-the-civic-app": "410105001"}'.
    open311_keys: dict[str, str] = {}
    # Volunteers: the registration target (seed 000: 10% of residents), who may register,
    # the check-in window either side, the daily hours above which a person approves, and
    # the star levels in total hours.
    volunteer_target_rate: float = 0.10
    volunteer_min_age: int = 14
    volunteer_checkin_window_min: int = 30
    volunteer_daily_cap_hours: float = 8
    volunteer_star_levels: list[int] = [100, 300, 600, 1000, 1500]
    # How long the organiser's rotating QR check-in code stays valid.
    volunteer_qr_token_s: int = 60
    # Resident units: a fulfilment score from which a unit is an "advanced unit" candidate,
    # and under which it is flagged (the responsibility evaluation, seeds 000 and 003).
    assessment_advanced_unit_score: float = 95
    assessment_unit_flag_below: float = 60
    # Events: NATS JetStream when a URL is given (the split mode), in process otherwise; how
    # often each component's outbox is swept (0: only when asked, as the tests do).
    nats_url: str = ""
    outbox_poll_s: float = 1.0
    # The gateway's HTTP client to the services in the split mode (see bench/gateway.py).
    proxy_client: Literal["httpx", "aiohttp"] = "aiohttp"
    # Three waits, three limits. A request first waits for one of the pool's connections: a
    # busy gateway, not the service's fault (503 upstream.busy, never held against the
    # service). Then the TCP connect: a dead service must cost a fast 503 (the split-mode
    # issue: within 2 s). Then the answer: a service that does not give it in time is a 504
    # upstream.timeout, and the request is never sent again, since it may have been done.
    proxy_pool_size: int = 100
    proxy_pool_wait_s: float = 30.0
    proxy_connect_timeout_s: float = 1.0
    proxy_read_timeout_s: float = 10.0
    # Sent again only when the connection was refused (nothing was sent), and only requests
    # that may be repeated: idempotent methods, POSTs with an Idempotency-Key.
    proxy_retries: int = 1
    proxy_breaker_failures: int = 5
    proxy_breaker_cooldown_s: float = 5.0
    # While a breaker is open the gateway asks the service's /readyz this often, and closes
    # the breaker at the first answer.
    proxy_probe_interval_s: float = 0.2
    # A pooled connection is dropped before the service would close it, so the gateway never
    # reuses one the service has just closed: idle < keep-alive (checked below).
    proxy_pool_idle_s: float = 15.0
    service_keep_alive_s: int = 30
    # How long one service waits for another before answering 504 upstream.timeout.
    peer_timeout_s: float = 10.0
    # make run-split: the first of the services' ports (registry, grid, volunteer,
    # assessment follow), and the port of the NATS it starts when no GONGJIAN_NATS_URL is set.
    split_base_port: int = 8101
    split_nats_port: int = 4222
    # ... and the S3 port of the SeaweedFS it starts when no GONGJIAN_S3_ENDPOINT is set (its
    # master, volume and filer take the next seven).
    split_s3_port: int = 8333
    # The split mode: where each component listens (the embedded mode calls them in process).
    gateway_url: str = ""
    registry_url: str = ""
    grid_url: str = ""
    volunteer_url: str = ""
    assessment_url: str = ""
    idempotency_ttl_s: int = 24 * 3600
    demo_data: bool = True
    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _pool_idle_below_keep_alive(self) -> Settings:
        if self.proxy_pool_idle_s >= self.service_keep_alive_s:
            raise ValueError(
                "GONGJIAN_PROXY_POOL_IDLE_S must be below GONGJIAN_SERVICE_KEEP_ALIVE_S"
            )
        return self

    @model_validator(mode="after")
    def _refuse_development_values_in_production(self) -> Settings:
        if self.env != "production":
            return self
        problems = []
        for name, value, known in (
            ("GONGJIAN_SECRET_KEY", self.secret_key, DEV_SECRET_KEY),
            ("GONGJIAN_PII_INDEX_KEY", self.pii_index_key, DEV_PII_INDEX_KEY),
        ):
            reason = weak_secret(value, known)
            if reason:
                problems.append(f"{name} {reason} (generate keys with: gongjian secrets)")
        reason = weak_key_bytes(self.pii_key, DEV_PII_KEY)
        if reason:
            problems.append(f"GONGJIAN_PII_KEY {reason} (generate keys with: gongjian secrets)")
        if self.s3_endpoint:
            if self.s3_access_key == DEV_S3_ACCESS_KEY or _placeholder(self.s3_access_key):
                problems.append(
                    "GONGJIAN_S3_ACCESS_KEY is the development value or a placeholder"
                    " (generate keys with: gongjian secrets)"
                )
            reason = weak_secret(self.s3_secret_key, DEV_S3_SECRET_KEY)
            if reason:
                problems.append(
                    f"GONGJIAN_S3_SECRET_KEY {reason} (generate keys with: gongjian secrets)"
                )
        elif self.mode == "split":
            problems.append(
                "GONGJIAN_S3_ENDPOINT must be set in the split mode: files on one replica's"
                " disk are not there for the others"
            )
        if self.demo_data:
            problems.append("GONGJIAN_DEMO_DATA must be false in production")
        if self.wechat_provider == "fake":
            problems.append("GONGJIAN_WECHAT_PROVIDER=fake is for development only")
        elif any(_placeholder(v) for v in (self.wechat_app_id, self.wechat_app_secret)):
            problems.append("GONGJIAN_WECHAT_APP_ID and _APP_SECRET must be the real ones")
        if self.wechat_templates and self.wechat_subscribe_provider == "fake":
            problems.append(
                "GONGJIAN_WECHAT_TEMPLATES are set: GONGJIAN_WECHAT_SUBSCRIBE_PROVIDER must be real"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def shared_rate_limits(self) -> bool:
        """Whether the gateway's rate counts are shared by its replicas (the split mode
        runs one or more gateways in front of the same services)."""
        if self.rate_limit_store == "auto":
            return self.mode == "split"
        return self.rate_limit_store == "database"

    def database_url_for(self, component: str) -> str:
        """Each component (a service or the gateway) gets its own database: a SQLite file of
        its own, or its own schema in the PostgreSQL database (see database.py)."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+asyncpg://" + url.split("://", 1)[1]
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{component}.db').resolve()}"

    @property
    def peer_urls(self) -> dict[str, str]:
        names = ("gateway", *SERVICE_NAMES)
        return {n: getattr(self, f"{n}_url") for n in names if getattr(self, f"{n}_url")}


# --- what production refuses as a key -----------------------------------------------------

_PLACEHOLDERS = ("change-me", "changeme", "replace-me", "placeholder", "secret", "example")


def _placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return not lowered or any(word in lowered for word in _PLACEHOLDERS)


def _bits_per_symbol(data: bytes | str) -> float:
    counts = Counter(data)
    total = len(data)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def weak_secret(value: str, known: str) -> str | None:
    """Why a text key is unfit for production, or None. 32 characters from
    ``secrets.token_urlsafe`` carry ~5 bits each; a phrase or a repeated pattern far less."""
    if value == known:
        return "is the public development value"
    if _placeholder(value):
        return "is a placeholder"
    if len(value) < 32:
        return "must be 32 or more characters"
    if _bits_per_symbol(value) < 3.5 or len(set(value)) < 16:
        return "is not random enough"
    return None


def weak_key_bytes(value: str, known: str) -> str | None:
    """Why the base64 AES key is unfit for production, or None."""
    if value == known:
        return "is the public development value"
    if _placeholder(value):
        return "is a placeholder"
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "must be base64 of 32 random bytes"
    if len(raw) != 32:
        return "must be base64 of exactly 32 bytes"
    if len(set(raw)) < 16:
        return "is not random enough"
    return None


def generate_secrets() -> dict[str, str]:
    """Fresh keys for a deployment (``gongjian secrets``)."""
    return {
        "GONGJIAN_SECRET_KEY": secrets.token_urlsafe(48),
        "GONGJIAN_PII_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "GONGJIAN_PII_INDEX_KEY": secrets.token_urlsafe(48),
        "GONGJIAN_S3_ACCESS_KEY": "gj" + secrets.token_hex(9),
        "GONGJIAN_S3_SECRET_KEY": secrets.token_urlsafe(30),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
    }


@lru_cache
def get_settings() -> Settings:
    return Settings()
