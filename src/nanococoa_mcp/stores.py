"""Shop records (the seed's CustomerData) in their own table of the job database (SQLite or PostgreSQL, through
the job store's own SQL access), with their product photos in the job store's blob store under
`stores/<id>/` (files under `<data_dir>/stores/<id>/`, named by path, on the embedded stack; S3 objects, named
by key, on the distributed one, so a worker on any machine reads them). Everything is checked before anything
is written: a refused record leaves no row and no file.

A shop belongs to the tenant that saved it (tenancy.py's current caller); another tenant is answered NotFound.
Its photos count towards its tenant's stored-megabytes quota."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nanococoa_mcp.ad.images import DecodedImage, stored_bytes
from nanococoa_mcp.db.access import Row
from nanococoa_mcp.errors import InvalidInput, NotFound, field_path
from nanococoa_mcp.jobs import quotas
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.storage import StorageError, new_job_id
from nanococoa_mcp.tenancy import current_caller

if TYPE_CHECKING:
    from nanococoa_mcp.homepage.models import StoreRecord

MAX_PHOTOS = 4  # what a homepage run takes (homepage/run.py); its site shows at most 3 product ads
MIN_PHOTOS_TO_GENERATE = 1


class StoredStore(BaseModel):
    """A shop as every door reports it."""

    model_config = ConfigDict(extra="forbid")

    store_id: str
    record: dict[str, Any] = Field(description="The shop's record: the seed's CustomerData fields.")
    photos: list[str] = Field(
        description="The shop's product photos, in order: paths (embedded stack) or blob keys (distributed)."
    )
    created_at: float
    updated_at: float


class StoreList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stores: list[StoredStore] = Field(description="Newest first.")


def record_fields() -> list[str]:
    from nanococoa_mcp.homepage.models import StoreRecord

    return list(StoreRecord.model_fields)


def check_record(data: dict[str, Any]) -> StoreRecord:
    """The record as the homepage workflow reads it. Raises InvalidInput naming the first bad field."""
    from nanococoa_mcp.homepage.models import StoreRecord

    known = StoreRecord.model_fields
    for key in data:
        if key not in known:
            raise InvalidInput(
                f"unknown store field {key!r}", field=key, accepted=f"the store fields: {', '.join(known)}"
            )
    try:
        return StoreRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = field_path(first["loc"]) or "record"
        info = known.get(str(first["loc"][0])) if first["loc"] else None
        parts = [_bounds(first), info.description if info is not None else None]
        raise InvalidInput(first["msg"], field=field, accepted="; ".join(p for p in parts if p) or None) from None


def _bounds(error: Any) -> str | None:
    ctx = error.get("ctx") or {}
    if "max_length" in ctx:
        return f"at most {ctx['max_length']} characters"
    if "min_length" in ctx:
        return "some text" if ctx["min_length"] == 1 else f"at least {ctx['min_length']} characters"
    words = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
    bounds = [f"{words[k]} {v}" for k, v in ctx.items() if k in words]
    if bounds:
        return f"a whole number, {', '.join(bounds)}"
    if error["type"] in ("int_parsing", "int_type", "int_from_float"):
        return "a whole number"
    return None


def check_photo_count(count: int, field: str = "photos") -> None:
    if count > MAX_PHOTOS:
        raise InvalidInput(f"{count} photos were given", field=field, accepted=f"at most {MAX_PHOTOS} product photos")


class StoreBook:
    """Store CRUD in the job store's database, through its SQL access (which the job store closes). `jobs`
    also says which photos an unfinished homepage job still needs."""

    def __init__(self, jobs: JobStore) -> None:
        self.sql = jobs.sql
        self.jobs = jobs
        self.blobs = jobs.blobs

    async def close(self) -> None:
        """Nothing of its own to release: the job store closes the connection both use."""

    async def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[Row]:
        return await self.sql.fetchall(sql, params)

    async def create(self, record: dict[str, Any], photos: list[DecodedImage]) -> StoredStore:
        """Raises InvalidInput (a bad field, too many photos), QuotaExceeded (the photos would take the tenant
        over its stored megabytes) or StorageError; a refusal writes nothing."""
        checked = check_record(record)
        check_photo_count(len(photos))
        tenant = current_caller().tenant
        size = sum(len(stored_bytes(p)[0]) for p in photos)
        async with self.sql.session() as s:  # refuse early, before writing anything
            await quotas.check(s, self.jobs.quotas, tenant, new_job=False, adding_bytes=size)
        store_id = new_job_id()
        keys = await self._save_photos(store_id, photos)
        now = time.time()
        try:
            async with self.sql.transaction() as tx:
                await quotas.check(tx, self.jobs.quotas, tenant, new_job=False, adding_bytes=size)
                await tx.execute(
                    """INSERT INTO stores (id, tenant, record, photos, photo_bytes, created_at, updated_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    (store_id, tenant, checked.model_dump_json(), json.dumps(self._refs(keys)), size, now, now),
                )
        except BaseException:
            await self._delete(keys)
            raise
        return await self.get(store_id)

    async def get(self, store_id: str) -> StoredStore:
        """Raises NotFound (also for another tenant's shop)."""
        tenant = current_caller().tenant
        found = await self._rows("SELECT * FROM stores WHERE id = ? AND tenant = ?", (store_id, tenant))
        if not found:
            raise _no_store(store_id)
        return _to_store(found[0])

    async def recent(self, limit: int = 20, offset: int = 0) -> list[StoredStore]:
        found = await self._rows(
            "SELECT * FROM stores WHERE tenant = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            (current_caller().tenant, limit, offset),
        )
        return [_to_store(r) for r in found]

    async def update(
        self, store_id: str, changes: dict[str, Any], photos: list[DecodedImage] | None = None
    ) -> StoredStore:
        """Change the given fields (the others stay); `photos`, when given, replace the shop's photos.

        Raises NotFound, InvalidInput, QuotaExceeded or StorageError; a refused update changes nothing.
        """
        current = await self.get(store_id)
        tenant = current_caller().tenant
        checked = check_record({**current.record, **changes})
        refs = current.photos
        keys: list[str] = []
        size: int | None = None
        if photos is not None:
            check_photo_count(len(photos))
            size = sum(len(stored_bytes(p)[0]) for p in photos)
            keys = await self._save_photos(store_id, photos)
            refs = self._refs(keys)
        try:
            async with self.sql.transaction() as tx:
                row = await tx.fetchone(
                    "SELECT photo_bytes FROM stores WHERE id = ? AND tenant = ?", (store_id, tenant)
                )
                if row is None:  # removed meanwhile
                    raise _no_store(store_id)
                if size is not None:
                    freed = int(row["photo_bytes"])
                    await quotas.check(tx, self.jobs.quotas, tenant, new_job=False, adding_bytes=size,
                                       freeing_bytes=freed)
                await tx.execute(
                    "UPDATE stores SET record = ?, photos = ?, photo_bytes = ?, updated_at = ? WHERE id = ?",
                    (checked.model_dump_json(), json.dumps(refs),
                     size if size is not None else int(row["photo_bytes"]), time.time(), store_id),
                )
        except BaseException:
            await self._delete(keys)
            raise
        if photos is not None:
            await self._forget_photos(store_id, keep=set(refs))
        return await self.get(store_id)

    async def discard(self, store_id: str) -> None:
        """Remove a store just made for a request that was then refused (its photos too)."""
        await self._rows("DELETE FROM stores WHERE id = ? AND tenant = ?", (store_id, current_caller().tenant))
        with contextlib.suppress(StorageError):  # the refusal matters more than stray photos
            await self.blobs.delete_prefix(f"stores/{store_id}")

    def _refs(self, keys: list[str]) -> list[str]:
        return [self.jobs.blob_ref(key) for key in keys]

    async def _save_photos(self, store_id: str, photos: list[DecodedImage]) -> list[str]:
        """Each photo as received (already validated), its key; fresh names, so an update never overwrites a
        photo that a queued homepage job still reads. Raises StorageError (none is left behind)."""
        token = secrets.token_hex(4)
        written: list[str] = []
        try:
            for i, image in enumerate(photos, start=1):
                data, ext = await asyncio.to_thread(stored_bytes, image)
                key = f"stores/{store_id}/photo-{i}-{token}{ext}"
                await self.blobs.put(key, data)
                written.append(key)
        except BaseException:
            await self._delete(written)
            raise
        return written

    async def _delete(self, keys: list[str]) -> None:
        for key in keys:
            with contextlib.suppress(StorageError):
                await self.blobs.delete(key)

    async def _forget_photos(self, store_id: str, keep: set[str]) -> None:
        """Delete replaced photos, except those an unfinished homepage job was given."""
        for parameters in await self.jobs.unfinished_parameters("homepage"):
            keep.update(parameters.get("photos", []))
        for info in await self.blobs.list(f"stores/{store_id}"):
            name = info.key.rsplit("/", 1)[-1]
            if name.startswith("photo-") and self.jobs.blob_ref(info.key) not in keep:
                await self.blobs.delete(info.key)


def _no_store(store_id: str) -> NotFound:
    return NotFound(f"no store {store_id!r}", field="store_id", accepted="a store id from create_store or list_stores")


def _to_store(row: Any) -> StoredStore:
    return StoredStore(
        store_id=row["id"],
        record=json.loads(row["record"]),
        photos=json.loads(row["photos"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
