"""Result files under the data directory, written atomically: a crash never leaves a half-written result."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from nanococoa_mcp.errors import NanococoaError


class StorageError(NanococoaError):
    code = "storage_error"


class StorageUnavailable(StorageError):
    """The job database or the blob store cannot be reached right now (a server restarting, a network cut):
    nothing is wrong with the request, and the same request is worth retrying shortly."""

    code = "storage_unavailable"


def new_job_id() -> str:
    return str(uuid.uuid4())


def _write_temp(path: Path, data: bytes, fsync: bool) -> Path:
    """`data` in a hidden temp file beside `path` (removed again if writing it fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_bytes_atomic(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Temp file + rename: readers see the old file or the whole new one. `fsync=False` for files whose
    loss in a power cut is no worse than their database row's (the job database syncs lazily too)."""
    tmp = _write_temp(path, data, fsync)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_bytes_atomic(path: Path, data: bytes, *, fsync: bool = True) -> bool:
    """Write `path` only if it does not exist yet, whole or not at all; whether this call wrote it. Of several
    writers racing for one path exactly one wins: the complete temp file is hard-linked into place, which
    fails when the name is taken (a rename would silently replace the winner)."""
    tmp = _write_temp(path, data, fsync)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def write_json_atomic(path: Path, payload: object) -> None:
    write_bytes_atomic(path, json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8"))


class JobDir:
    """A job's result folder, staged under a hidden name and renamed into place when complete."""

    def __init__(self, root: Path, job_id: str) -> None:
        self.final = root / "jobs" / job_id
        self.staging = root / "jobs" / f".staging-{job_id}"

    def __enter__(self) -> Path:
        try:
            self.staging.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise StorageError(
                f"cannot write results under {self.staging.parent}: {exc.strerror or exc}",
                field="data_dir",
                accepted="a writable NANOCOCOA_DATA_DIR with free space",
            ) from exc
        return self.staging

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        os.replace(self.staging, self.final)
