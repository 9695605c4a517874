"""Where the job database and the blobs live, parsed from the two settings URLs (NANOCOCOA_DATABASE_URL,
NANOCOCOA_BLOB_URL) into typed values. Secrets never leave these values in text: a location's str() and repr()
mask the database password, and S3 credentials are never part of a URL at all (they come from AWS_*)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from pydantic import SecretStr

MASK = "***"
DATABASE_ACCEPTED = "sqlite:///ABSOLUTE/PATH.db or postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
BLOB_ACCEPTED = "file:///ABSOLUTE/DIR or s3://BUCKET[?endpoint=http(s)://HOST:PORT&region=REGION&presign=1]"
_S3_PARAMS = ("endpoint", "region", "presign")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


class LocationError(ValueError):
    """A settings URL that cannot be used; the message says what is accepted (pydantic names the variable)."""

    def __init__(self, message: str, accepted: str) -> None:
        super().__init__(f"{message} (accepted: {accepted})")


@dataclass(frozen=True, slots=True)
class SqliteDatabase:
    """The embedded stack's database file."""

    path: Path

    def __str__(self) -> str:
        return f"sqlite://{self.path}"


@dataclass(frozen=True, slots=True)
class PostgresDatabase:
    """The distributed stack's database. `conninfo` (the URL as given, password included) is for the database
    client only; str() and repr() show the URL with its password masked."""

    conninfo: SecretStr = field(repr=False)
    masked: str

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.masked!r})"

    def scrub(self, text: str) -> str:
        """`text` (a driver's error message, say) with this URL's password masked wherever it appears."""
        for secret in _passwords(self.conninfo.get_secret_value()):
            text = text.replace(secret, MASK)
        return text


@dataclass(frozen=True, slots=True)
class FileBlobLocation:
    """Blobs as files under a directory (the embedded stack)."""

    root: Path

    def __str__(self) -> str:
        return f"file://{self.root}"


@dataclass(frozen=True, slots=True)
class S3BlobLocation:
    """Blobs in an S3-compatible bucket. The URL's own part; `S3Credentials` come from the AWS_* variables."""

    bucket: str
    endpoint: str | None = None  # None: AWS itself (or AWS_ENDPOINT_URL)
    region: str | None = None  # None: AWS_REGION, else us-east-1
    presign: bool = False  # hand out presigned URLs for downloads

    def __str__(self) -> str:
        parts = (("endpoint", self.endpoint), ("region", self.region), ("presign", "1" if self.presign else None))
        query = "&".join(f"{k}={v}" for k, v in parts if v)
        return f"s3://{self.bucket}" + (f"?{query}" if query else "")


@dataclass(frozen=True, slots=True)
class S3Credentials:
    """Keys for an S3 store (reprs show them masked, as SecretStr does)."""

    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None


@dataclass(frozen=True, slots=True)
class S3Config:
    """Everything an S3 blob store needs: where (with the defaults filled in) and the keys."""

    bucket: str
    endpoint: str | None
    region: str
    presign: bool
    credentials: S3Credentials

    def __str__(self) -> str:
        return str(S3BlobLocation(self.bucket, self.endpoint, self.region, self.presign))


DatabaseLocation = SqliteDatabase | PostgresDatabase
BlobLocation = FileBlobLocation | S3BlobLocation


def _absolute_path(raw: str, what: str, accepted: str) -> Path:
    path = Path(raw)
    if not path.is_absolute() or ".." in path.parts:
        raise LocationError(f"the {what} path must be absolute, got {raw!r}", accepted)
    return path


def _split(text: str, accepted: str) -> tuple[str, str, str, str, str]:
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError as exc:
        raise LocationError(f"not a URL: {exc}", accepted) from None
    if parts.fragment:
        raise LocationError("a URL fragment (#...) means nothing here", accepted)
    return parts.scheme.lower(), parts.netloc, parts.path, parts.query, parts.fragment


def parse_database_url(text: str) -> DatabaseLocation:
    """NANOCOCOA_DATABASE_URL as a typed location. Raises LocationError."""
    scheme, netloc, path, query, _ = _split(text, DATABASE_ACCEPTED)
    if scheme == "sqlite":
        if netloc or query:
            raise LocationError("a sqlite URL is sqlite:/// and a file path, nothing else", DATABASE_ACCEPTED)
        return SqliteDatabase(_absolute_path(path, "database file", DATABASE_ACCEPTED))
    if scheme in ("postgresql", "postgres"):
        if not netloc and "host=" not in query:
            raise LocationError("the PostgreSQL URL names no server", DATABASE_ACCEPTED)
        return PostgresDatabase(SecretStr(text.strip()), _mask_postgres(text.strip()))
    raise LocationError(f"unknown scheme {scheme or '(none)'!r}", DATABASE_ACCEPTED)


def _passwords(url: str) -> set[str]:
    """The password of a PostgreSQL URL as written and decoded, from its user part and its query."""
    parts = urlsplit(url)
    found = {parts.password or ""}
    userinfo = parts.netloc.rpartition("@")[0]
    found.add(userinfo.partition(":")[2] if ":" in userinfo else "")
    found |= {v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() == "password"}
    found |= {quote(v, safe="") for v in found}
    return {v for v in found if v}


def _mask_postgres(text: str) -> str:
    """The URL with its password (in the user part or a `password=` parameter) replaced by ***."""
    parts = urlsplit(text)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            user = f"{user.split(':', 1)[0]}:{MASK}"
        netloc = f"{user}@{host}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = "&".join(f"{k}={MASK if k.lower() == 'password' else quote(v, safe='/:')}" for k, v in pairs)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def parse_blob_url(text: str) -> BlobLocation:
    """NANOCOCOA_BLOB_URL as a typed location. Raises LocationError."""
    scheme, netloc, path, query, _ = _split(text, BLOB_ACCEPTED)
    if scheme == "file":
        if netloc not in ("", "localhost") or query:
            raise LocationError("a file URL is file:/// and a directory, nothing else", BLOB_ACCEPTED)
        return FileBlobLocation(_absolute_path(path, "blob directory", BLOB_ACCEPTED))
    if scheme != "s3":
        raise LocationError(f"unknown scheme {scheme or '(none)'!r}", BLOB_ACCEPTED)
    if "@" in netloc:
        raise LocationError(
            "S3 keys never go in the URL", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
        )
    if not _BUCKET.fullmatch(netloc) or ".." in netloc:
        raise LocationError(f"{netloc!r} is not an S3 bucket name", "3-63 lower-case letters, digits, '.' or '-'")
    if path not in ("", "/"):
        raise LocationError(f"the S3 URL has a path ({path!r}); keys are made by nanococoa", BLOB_ACCEPTED)
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if key not in _S3_PARAMS:
            raise LocationError(f"unknown S3 URL parameter {key!r}", ", ".join(_S3_PARAMS))
        params[key] = value
    endpoint = params.get("endpoint") or None
    if endpoint is not None:
        ep = urlsplit(endpoint)
        if ep.scheme not in ("http", "https") or not ep.hostname or ep.path not in ("", "/") or ep.query:
            raise LocationError(f"endpoint {endpoint!r} is not a server address", "http(s)://HOST[:PORT]")
        endpoint = endpoint.rstrip("/")
    presign = params.get("presign", "0").lower()
    if presign not in _FLAGS:
        raise LocationError(f"presign={presign!r}", "presign=1 or presign=0")
    return S3BlobLocation(netloc, endpoint, params.get("region") or None, _FLAGS[presign])
