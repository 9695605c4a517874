"""The one settings class: every knob, its environment variable (NANOCOCOA_*) and its meaning."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, PlainSerializer, PlainValidator, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nanococoa_mcp.locations import (
    BlobLocation,
    DatabaseLocation,
    FileBlobLocation,
    PostgresDatabase,
    S3BlobLocation,
    S3Config,
    S3Credentials,
    SqliteDatabase,
    parse_blob_url,
    parse_database_url,
)

DATABASE_FILE = "nanococoa.db"  # the embedded database, under the data directory unless the URL says otherwise
DEFAULT_S3_REGION = "us-east-1"


def _default_data_dir() -> Path:
    return Path.home() / ".nanococoa"


def _database_url(value: Any) -> DatabaseLocation | None:
    if value is None or value == "":
        return None
    if isinstance(value, SqliteDatabase | PostgresDatabase):
        return value
    if isinstance(value, Path):
        return SqliteDatabase(value)
    if isinstance(value, str):
        return parse_database_url(value)
    raise TypeError("a URL string")


def _blob_url(value: Any) -> BlobLocation | None:
    if value is None or value == "":
        return None
    if isinstance(value, FileBlobLocation | S3BlobLocation):
        return value
    if isinstance(value, str):
        return parse_blob_url(value)
    raise TypeError("a URL string")


def _as_text(value: object) -> str | None:
    return None if value is None else str(value)  # str() of a location masks its password


# NoDecode: the URL is text, not JSON; hide_input_in_errors (below) keeps a refused URL's password out of errors.
DatabaseUrl = Annotated[
    DatabaseLocation | None, NoDecode, PlainValidator(_database_url), PlainSerializer(_as_text, return_type=str | None)
]
BlobUrl = Annotated[
    BlobLocation | None, NoDecode, PlainValidator(_blob_url), PlainSerializer(_as_text, return_type=str | None)
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NANOCOCOA_", extra="ignore", hide_input_in_errors=True)

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Directory for the job database, result images and caches.",
    )
    chromium_path: Path | None = Field(
        default=None,
        description="Chromium executable used to typeset the copy; found automatically when unset.",
    )
    font_dirs: list[Path] = Field(
        default_factory=lambda: [Path("/usr/share/fonts"), Path("/usr/local/share/fonts")],
        description="Directories searched for Korean fonts.",
    )
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, description="Largest accepted image file.")
    max_pixels: int = Field(default=40_000_000, description="Largest accepted image area (decompression bombs).")
    min_side_px: int = Field(default=64, description="Smallest accepted image side.")
    max_copy_chars: int = Field(default=40, description="Longest accepted ad copy, in characters.")
    host: str = Field(default="127.0.0.1", description="Address `nanococoa serve` binds.")
    port: int = Field(default=3000, description="Port `nanococoa serve` listens on (the seed's MCP port).")
    token: str | None = Field(
        default=None,
        description="Bearer token required on every HTTP request; mandatory when bound to a non-loopback address.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list, description="Extra browser origins allowed to call the HTTP endpoints."
    )
    public_url: str | None = Field(
        default=None,
        description="The URL clients reach this server at (https://ads.example.com): the resource named in the "
        "OAuth protected-resource metadata and the default token audience; http://HOST:PORT when unset.",
    )
    # Hosted (issue 13): an OAuth 2.1 resource server, per-tenant API keys, or both.
    auth_issuer: str | None = Field(
        default=None,
        description="OAuth authorization server whose JWT access tokens are accepted (their `iss`); turns auth on.",
    )
    auth_jwks_url: str | None = Field(
        default=None,
        description="The issuer's JWKS document (its signing keys); unset, the `jwks_uri` its metadata names "
        "(RFC 8414 /.well-known/oauth-authorization-server, or OpenID Connect discovery), looked up on first use."
    )
    auth_audience: str | None = Field(
        default=None,
        description="The `aud` a token must name (RFC 8707); default: this server's resource URLs (public_url, "
        "public_url/mcp, public_url/sse).",
    )
    auth_scope: str = Field(default="nanococoa", description="Scope an access token must carry (`scope` or `scp`).")
    auth_tenant_claim: str = Field(default="sub", description="The token claim that names the caller's tenant.")
    auth_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256"],
        description="JWS algorithms accepted for access tokens (asymmetric only: RS*, PS*, ES*, EdDSA).",
    )
    auth_jwks_refresh_sec: float = Field(
        default=30.0,
        ge=0,
        description="Least time between two fetches of the JWKS when a token names a key id not yet known.",
    )
    auth_required: bool = Field(
        default=False,
        description="Require a credential on every request (API keys only, no shared token or issuer); on "
        "whenever NANOCOCOA_TOKEN or NANOCOCOA_AUTH_ISSUER is set.",
    )
    workers: int = Field(default=1, ge=1, le=16, description="Worker processes running ads (each keeps a browser).")
    worker_processes: int = Field(
        default=0,
        ge=0,
        le=16,
        description="With PostgreSQL: `nanococoa worker` processes that `nanococoa serve` runs beside itself "
        "(`serve --workers N`); none by default, the workers run on their own.",
    )
    heartbeat_sec: float = Field(
        default=2.0, gt=0, description="With PostgreSQL: how often a worker tells the database it is alive."
    )
    stalled_after_sec: float = Field(
        default=10.0,
        gt=0,
        description="With PostgreSQL: a worker silent this long is taken for dead; its job runs again on another "
        "worker from its last finished step.",
    )
    max_queued_jobs: int = Field(
        default=32, ge=1, description="Jobs allowed to wait; more are refused (HTTP 429) until one starts."
    )
    tenant_max_queued_jobs: int | None = Field(
        default=None,
        ge=1,
        description="Jobs one tenant may have waiting at once; more are refused (HTTP 429, MCP quota_exceeded) "
        "until one starts. Unset: no limit. When set, the local tenant (stdio, the loopback user) is held to it too.",
    )
    tenant_max_jobs_per_hour: int | None = Field(
        default=None,
        ge=1,
        description="Jobs one tenant may start in any hour (ads, cut-outs, analyses, homepages and the ads a "
        "homepage makes). Unset: no limit. When set, the local tenant is held to it too.",
    )
    tenant_max_stored_mb: float | None = Field(
        default=None,
        gt=0,
        description="Megabytes of files one tenant may keep: its uploads (product and shop photos), results and "
        "step checkpoints. A job or photo that would go over it is refused. Unset: no limit. When set, the local "
        "tenant is held to it too.",
    )
    stop_grace_sec: float = Field(
        default=10.0, gt=0, description="Seconds a worker gets to honour a stop before it is killed and replaced."
    )
    max_wait_sec: float = Field(
        default=300.0, gt=0, description="Longest a `wait=true` generate call waits before returning the job id."
    )
    queue_retry_max_sec: float = Field(
        default=5.0,
        gt=0,
        description="Longest pause between a homepage run's tries to queue an ad while the queue is full (the "
        "pause starts at 0.5 s, or this when shorter, and doubles up to it).",
    )
    # One backend per stage, by its name in the backend registry (ad/backends/registry.py); any other
    # name is refused here, at start.
    cutout_backend: str = Field(
        default="studio", description="Cut-out backend: studio (classical matting) or birefnet."
    )
    scene_backend: str = Field(default="studio", description="Scene backend: studio (procedural scenes) or flux.")
    layout_backend: str = Field(
        default="studio", description="Layout analysis backend: studio (image analysis) or qwen."
    )
    copy_backend: str = Field(default="template", description="Copy design backend: template (style templates) or llm.")
    # The model backends (extra `nanococoa-mcp[gpu]`). Weights are read offline (models_dir, then the HF cache).
    device: str = Field(default="auto", description="Torch device for the model backends: auto, cuda, cuda:1, cpu.")
    models_dir: Path | None = Field(default=None, description="Directory of local model folders, checked first.")
    vram_budget_gb: float | None = Field(
        default=None, gt=0, description="Unload least recently used models to stay under this much GPU memory."
    )
    birefnet_model: str = Field(default="ZhengPeng7/BiRefNet", description="BiRefNet checkpoint (repo id or path).")
    flux_model: str = Field(
        default="black-forest-labs/FLUX.1-schnell",
        description="FLUX checkpoint: FLUX.1-schnell (Apache-2.0) or FLUX.1-dev / FLUX.1-Fill-dev (non-commercial).",
    )
    flux_steps: int | None = Field(default=None, ge=1, le=100, description="Denoising steps; default by model.")
    flux_size: int = Field(default=1024, ge=256, le=2048, description="Long side FLUX works at (multiple of 16).")
    qwen_model: str = Field(default="Qwen/Qwen2-VL-2B-Instruct", description="Qwen2-VL checkpoint for layout.")
    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint for the llm copy backend.")
    llm_model: str = Field(default="gpt-4o-mini", description="Model name at the LLM endpoint.")
    llm_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("NANOCOCOA_LLM_API_KEY", "OPENAI_API_KEY"),
        description="API key for the LLM endpoint (OPENAI_API_KEY works too).",
    )
    llm_timeout_sec: float = Field(default=60.0, gt=0, description="Per LLM request.")
    # Where jobs and files live: the embedded stack (SQLite + files under data_dir) unless these say otherwise.
    database_url: DatabaseUrl = Field(
        default=None,
        description="Job database: sqlite:///PATH (default: nanococoa.db under data_dir) or "
        "postgresql://USER:PASSWORD@HOST:PORT/DB (the distributed stack).",
    )
    blob_url: BlobUrl = Field(
        default=None,
        description="Uploads, step checkpoints and results: file:///DIR (default: data_dir) or "
        "s3://BUCKET?endpoint=http://HOST:PORT&region=REGION&presign=1 (keys from AWS_*).",
    )
    aws_access_key_id: SecretStr | None = Field(
        default=None, validation_alias="AWS_ACCESS_KEY_ID", description="S3 access key (the standard variable)."
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None, validation_alias="AWS_SECRET_ACCESS_KEY", description="S3 secret key (the standard variable)."
    )
    aws_session_token: SecretStr | None = Field(
        default=None, validation_alias="AWS_SESSION_TOKEN", description="S3 session token, for temporary keys."
    )
    aws_region: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"),
        description="S3 region when the blob URL names none (default us-east-1).",
    )
    aws_endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
        description="S3 endpoint when the blob URL names none (default: AWS).",
    )

    @property
    def auth_on(self) -> bool:
        """Every request but the open ones must carry a credential."""
        return bool(self.token or self.auth_issuer or self.auth_required)

    @property
    def database(self) -> DatabaseLocation:
        """The job database, with the default filled in."""
        return self.database_url or SqliteDatabase(self.data_dir / DATABASE_FILE)

    @property
    def blobs(self) -> FileBlobLocation | S3Config:
        """The blob store, with the defaults and the AWS_* keys filled in."""
        url = self.blob_url or FileBlobLocation(self.data_dir)
        if isinstance(url, FileBlobLocation):
            return url
        keys = S3Credentials(self.aws_access_key_id, self.aws_secret_access_key, self.aws_session_token)
        endpoint = url.endpoint or (self.aws_endpoint_url.rstrip("/") if self.aws_endpoint_url else None)
        return S3Config(url.bucket, endpoint, url.region or self.aws_region or DEFAULT_S3_REGION, url.presign, keys)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
