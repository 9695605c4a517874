"""Per-tenant API keys for small deployments: a key is shown once when made and only its SHA-256 is kept, in the
job database (SQLite or PostgreSQL, through the job store's SQL access). Every use looks the key up again, so a
revoked key is refused at once by every replica."""

from __future__ import annotations

import hashlib
import re
import secrets
import time

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.db.access import Row, SqlAccess
from nanococoa_mcp.errors import InvalidInput, NotFound

KEY_PREFIX = "nck_"
TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
TENANT_ACCEPTED = "1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
LAST_USED_EVERY_S = 60.0  # a key's last use is written at most this often (not once per request)


class ApiKey(BaseModel):
    """A key as `nanococoa keys list` shows it: never the key itself."""

    model_config = ConfigDict(extra="forbid")

    key_id: str
    tenant: str
    created_at: float
    last_used_at: float | None = Field(description="Within a minute; null when never used.")
    revoked_at: float | None


def key_hash(key: str) -> str:
    """What is stored of a key. A key is 256 random bits, so a plain SHA-256 is enough (nothing to brute-force)."""
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def check_tenant(tenant: str) -> str:
    """Raises InvalidInput naming `tenant`."""
    if not TENANT_PATTERN.fullmatch(tenant):
        raise InvalidInput(f"{tenant!r} is not a tenant name", field="tenant", accepted=TENANT_ACCEPTED)
    return tenant


class KeyBook:
    """The api_keys table, on the job store's SQL access (which the job store closes)."""

    def __init__(self, sql: SqlAccess) -> None:
        self.sql = sql

    async def create(self, tenant: str) -> tuple[ApiKey, str]:
        """A new key for `tenant`: its record and the key, which is not kept. Raises InvalidInput."""
        check_tenant(tenant)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = "key_" + secrets.token_hex(6)
        await self.sql.fetchall(
            "INSERT INTO api_keys (id, tenant, key_hash, created_at) VALUES (?, ?, ?, ?)",
            (key_id, tenant, key_hash(key), time.time()),
        )
        return await self.get(key_id), key

    async def get(self, key_id: str) -> ApiKey:
        """Raises NotFound."""
        found = await self.sql.fetchall("SELECT * FROM api_keys WHERE id = ?", (key_id,))
        if not found:
            raise NotFound(f"no API key {key_id!r}", field="key_id", accepted="an id from `nanococoa keys list`")
        return _to_key(found[0])

    async def list(self) -> list[ApiKey]:
        """Every key, newest first."""
        return [_to_key(r) for r in await self.sql.fetchall("SELECT * FROM api_keys ORDER BY created_at DESC, id")]

    async def revoke(self, key_id: str) -> ApiKey:
        """Refused from now on; revoking twice keeps the first time. Raises NotFound."""
        await self.get(key_id)
        await self.sql.fetchall(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (time.time(), key_id)
        )
        return await self.get(key_id)

    async def verify(self, key: str) -> ApiKey | None:
        """The live key `key` is, or None (unknown or revoked); notes its use."""
        found = await self.sql.fetchall(
            "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (key_hash(key),)
        )
        if not found:
            return None
        row, now = found[0], time.time()
        last = row["last_used_at"]
        if last is None or last < now - LAST_USED_EVERY_S:  # a write at most once a minute, not per request
            await self.sql.fetchall(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                (now, row["id"], now - LAST_USED_EVERY_S),
            )
        return _to_key(row)


def _to_key(row: Row) -> ApiKey:
    return ApiKey(
        key_id=row["id"],
        tenant=row["tenant"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )
