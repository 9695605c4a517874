"""A job's files in the blob store, by name: its results (`jobs/{id}/final_1.png`, …) and its finished steps'
checkpoints and previews. The doors serve them from here on every replica, whoever made them; a distributed
worker copies them here from its own disk as each step finishes, and back to its disk to resume a job.

The embedded stack's store is the data directory itself, where the steps keep their old place
(`steps/{id}/…`); the distributed stack keeps everything of a job under `jobs/{id}/` (steps in `steps/`).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from nanococoa_mcp.blobs import BlobNotFound, Blobs, check_key
from nanococoa_mcp.errors import InvalidInput, NotFound

SERVED_SUFFIXES = (".png", ".jpg", ".json")
WRITE_ONCE_SUFFIXES = (".png", ".jpg", ".npz", ".zst")  # made the same way by any run: the first copy stands
URL_EXPIRES = timedelta(hours=1)


def no_file(job_id: str, name: str) -> NotFound:
    return NotFound(f"no file {name!r} in job {job_id!r}", field="name", accepted="a file listed in the job")


class JobFiles:
    def __init__(self, blobs: Blobs, *, steps_in_job: bool) -> None:
        self.blobs = blobs
        self.steps_in_job = steps_in_job

    def result_key(self, job_id: str, name: str = "") -> str:
        return f"jobs/{job_id}/{name}".rstrip("/")

    def steps_key(self, job_id: str, name: str = "") -> str:
        base = f"jobs/{job_id}/steps" if self.steps_in_job else f"steps/{job_id}"
        return f"{base}/{name}".rstrip("/")

    async def locate(self, job_id: str, name: str) -> str:
        """The key of a job's file as the doors name it (`final_1.png`, `step1_1.jpg`): a result, else a
        step's. Raises NotFound (also for names that are no image or JSON)."""
        if Path(name).suffix not in SERVED_SUFFIXES:
            raise no_file(job_id, name)
        try:
            keys = [self.result_key(check_key(job_id)), self.steps_key(job_id)]
            check_key(name)
        except InvalidInput:
            raise no_file(job_id, name) from None
        for folder in keys:
            key = f"{folder}/{name}"
            if await self.blobs.exists(key):
                return key
        raise no_file(job_id, name)

    async def read(self, job_id: str, name: str) -> bytes:
        """A job's file. Raises NotFound."""
        key = await self.locate(job_id, name)
        try:
            return await self.blobs.get(key)
        except BlobNotFound:  # deleted meanwhile
            raise no_file(job_id, name) from None

    async def url(self, key: str) -> str | None:
        """A presigned download URL when the store hands them out, else None (served through the API)."""
        return await self.blobs.url(key, URL_EXPIRES)

    # ---------------------------------------------------------------- a distributed worker's copies

    async def upload(self, local: Path, folder: str, done: set[str] | None = None) -> list[str]:
        """Copy the files of the local directory `local` under the key `folder` (images and arrays
        write-once, the rest replaced); `done` names those copied before, skipped and added to. The names
        copied now."""
        names = await asyncio.to_thread(_files_in, local)
        copied = []
        for name in names:
            if done is not None and name in done:
                continue
            data = await asyncio.to_thread((local / name).read_bytes)
            await self.blobs.put(f"{folder}/{name}", data, if_absent=Path(name).suffix in WRITE_ONCE_SUFFIXES)
            copied.append(name)
            if done is not None:
                done.add(name)
        return copied

    async def fetch(self, key: str, local: Path) -> None:
        """Copy one object to the local file `local`. Raises BlobNotFound or StorageError."""
        data = await self.blobs.get(key)
        await asyncio.to_thread(_write, local, data)

    async def download(self, folder: str, local: Path) -> int:
        """Copy every file under the key `folder` into the local directory `local`; how many."""
        copied = 0
        for info in await self.blobs.list(folder):
            name = info.key.removeprefix(f"{folder}/")
            if "/" in name:
                continue  # a folder below (a job's steps, under its results)
            await self.fetch(info.key, local / name)
            copied += 1
        return copied


def _files_in(local: Path) -> list[str]:
    if not local.is_dir():
        return []
    return sorted(p.name for p in local.iterdir() if p.is_file() and not p.name.startswith("."))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
