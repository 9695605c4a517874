"""The blob store: uploads, step checkpoints and results under keys such as `jobs/{id}/step1_0.png`, in a local
directory (the embedded stack) or an S3-compatible bucket (the distributed one), behind one async interface.

Writes are atomic (a reader sees the old object or the whole new one) and `put(..., if_absent=True)` is
write-once: of several writers racing for one key exactly one wins, which is what makes a job delivered twice
harmless. Keys are checked before anything is touched, so no key reaches outside the store.
"""

from __future__ import annotations

import abc
import asyncio
import builtins
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from nanococoa_mcp.errors import BackendUnavailable, InvalidInput, NotFound
from nanococoa_mcp.locations import FileBlobLocation, S3Config
from nanococoa_mcp.storage import StorageError, create_bytes_atomic, write_bytes_atomic

if TYPE_CHECKING:
    from obstore.store import S3Config as ObstoreS3Config
    from obstore.store import S3Store

CHUNK = 1024 * 1024
MAX_KEY = 1024
KEY_ACCEPTED = (
    "a relative key of '/'-separated names made of letters, digits, '.', '_' and '-', none starting with '.' "
    "(e.g. jobs/ID/step1_0.png)"
)
# A name never starts with '.': no '.' or '..' segments, and the file store's hidden temp files stay apart.
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}")
MIN_EXPIRES = timedelta(seconds=1)
MAX_EXPIRES = timedelta(days=7)  # the longest a SigV4 presigned URL may live


class BlobNotFound(NotFound):
    """No object under that key."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    modified: float  # seconds since the epoch


def check_key(key: str, field: str = "key") -> str:
    """`key` when it is a valid blob key. Raises InvalidInput (absolute paths, '..', empty names, odd characters)."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY or not all(
        _NAME.fullmatch(name) for name in key.split("/")
    ):
        raise InvalidInput(f"{key!r} is not a blob key", field=field, accepted=KEY_ACCEPTED)
    return key


def check_prefix(prefix: str) -> str:
    """A folder of keys ('' for all), without a trailing '/'. Raises InvalidInput."""
    return "" if prefix in ("", "/") else check_key(prefix.removesuffix("/"), "prefix")


def _not_found(key: str) -> BlobNotFound:
    return BlobNotFound(f"no blob {key!r}", field="key", accepted="a key that was put")


class Blobs(abc.ABC):
    """One blob store. Every key is checked here; the subclasses store."""

    async def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        """Store `data` under `key` atomically; with `if_absent`, only if the key is free. Whether it was written.
        Raises InvalidInput (the key) or StorageError."""
        return await self._put(check_key(key), bytes(data), if_absent)

    async def get(self, key: str) -> bytes:
        """The whole object. Raises BlobNotFound or InvalidInput."""
        return await self._get(check_key(key))

    async def stream(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        """The object in chunks, for a response body. Raises BlobNotFound (before the first chunk) or
        InvalidInput."""
        async for chunk in self._stream(check_key(key), chunk_size):
            yield chunk

    async def head(self, key: str) -> BlobInfo:
        """Size and modification time. Raises BlobNotFound or InvalidInput."""
        return await self._head(check_key(key))

    async def exists(self, key: str) -> bool:
        try:
            await self.head(key)
        except BlobNotFound:
            return False
        return True

    async def list(self, prefix: str = "") -> builtins.list[BlobInfo]:
        """Every object in the folder `prefix` and below it, by key. `jobs/a` holds `jobs/a/x`, not `jobs/ab/x`."""
        found = await self._list(check_prefix(prefix))
        return sorted(found, key=lambda info: info.key)

    async def delete(self, key: str) -> None:
        """Remove one object; a missing one is no error."""
        await self._delete([check_key(key)])

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object in the folder `prefix`; how many there were. Raises InvalidInput for an empty
        prefix (the whole store is never deleted by accident)."""
        folder = check_prefix(prefix)
        if not folder:
            raise InvalidInput("refusing to delete every blob", field="prefix", accepted="a folder such as jobs/ID")
        found = await self._list(folder)
        await self._delete([info.key for info in found], folder)
        return len(found)

    async def url(self, key: str, expires: timedelta) -> str | None:
        """A URL anyone holding it can download the object from until `expires` has passed, when the store
        hands such URLs out (S3 with presign=1); else None and the object is served through the API.
        Raises InvalidInput."""
        if not MIN_EXPIRES <= expires <= MAX_EXPIRES:
            raise InvalidInput(f"a URL that expires in {expires}", field="expires", accepted="1 second to 7 days")
        return await self._url(check_key(key), expires)

    async def close(self) -> None:  # noqa: B027 (nothing to release unless a store says so)
        """Release what the store holds."""

    @abc.abstractmethod
    async def _put(self, key: str, data: bytes, if_absent: bool) -> bool: ...

    @abc.abstractmethod
    async def _get(self, key: str) -> bytes: ...

    @abc.abstractmethod
    def _stream(self, key: str, chunk_size: int) -> AsyncIterator[bytes]: ...

    @abc.abstractmethod
    async def _head(self, key: str) -> BlobInfo: ...

    @abc.abstractmethod
    async def _list(self, folder: str) -> builtins.list[BlobInfo]: ...

    @abc.abstractmethod
    async def _delete(self, keys: builtins.list[str], folder: str | None = None) -> None: ...

    @abc.abstractmethod
    async def _url(self, key: str, expires: timedelta) -> str | None: ...


class FileBlobs(Blobs):
    """Blobs as files under `root`, written by temp file and rename (or hard link, write-once)."""

    def __init__(self, root: Path, *, fsync: bool = True, setting: str = "blob_url") -> None:
        self.root = root
        self.fsync = fsync
        self.setting = setting  # the setting that names `root`, for errors: blob_url, or data_dir by default

    def local_path(self, key: str) -> Path:
        """Where the object with `key` lives (whether or not it exists). Raises InvalidInput."""
        return self.root / check_key(key)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise StorageError(
                f"cannot write under {self.root}: {exc.strerror or exc}",
                field=self.setting,
                accepted=f"a writable NANOCOCOA_{self.setting.upper()} with free space",
            ) from exc

    async def _put(self, key: str, data: bytes, if_absent: bool) -> bool:
        path = self.root / key
        with self._writing():
            if if_absent:
                return await asyncio.to_thread(create_bytes_atomic, path, data, fsync=self.fsync)
            await asyncio.to_thread(write_bytes_atomic, path, data, fsync=self.fsync)
        return True

    async def _get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread((self.root / key).read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise _not_found(key) from None

    async def _stream(self, key: str, chunk_size: int) -> AsyncIterator[bytes]:
        try:
            fh = await asyncio.to_thread(open, self.root / key, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise _not_found(key) from None
        try:
            while chunk := await asyncio.to_thread(fh.read, chunk_size):
                yield chunk
        finally:
            fh.close()

    async def _head(self, key: str) -> BlobInfo:
        try:
            st = await asyncio.to_thread(os.stat, self.root / key)
        except (FileNotFoundError, NotADirectoryError):
            raise _not_found(key) from None
        if not os.path.isfile(self.root / key):
            raise _not_found(key)
        return BlobInfo(key, st.st_size, st.st_mtime)

    async def _list(self, folder: str) -> builtins.list[BlobInfo]:
        return await asyncio.to_thread(self._walk, folder)

    def _walk(self, folder: str) -> builtins.list[BlobInfo]:
        top = self.root / folder if folder else self.root
        found = []
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # staging folders, never blobs
            for name in filenames:
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if not all(_NAME.fullmatch(part) for part in key.split("/")):
                    continue  # temp files of writes under way, and anything that is not a blob
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue  # deleted meanwhile
                found.append(BlobInfo(key, st.st_size, st.st_mtime))
        return found

    async def _delete(self, keys: builtins.list[str], folder: str | None = None) -> None:
        def remove() -> None:
            for key in keys:
                (self.root / key).unlink(missing_ok=True)
            if folder is not None:
                shutil.rmtree(self.root / folder, ignore_errors=True)  # the emptied folders

        with self._writing():
            await asyncio.to_thread(remove)

    async def _url(self, key: str, expires: timedelta) -> str | None:
        return None


class S3Blobs(Blobs):
    """Blobs in an S3-compatible bucket through obstore (the `scale` extra). Write-once puts use a conditional
    PUT (If-None-Match), so the store itself decides the race."""

    def __init__(self, config: S3Config) -> None:
        try:
            from obstore.store import S3Store
        except ImportError as exc:
            raise BackendUnavailable(
                "the S3 blob store needs obstore", field="blob_url", accepted="pip install 'nanococoa-mcp[scale]'"
            ) from exc
        keys = config.credentials
        options: ObstoreS3Config = {"region": config.region}
        if config.endpoint:  # a custom endpoint (MinIO, SeaweedFS, R2) is addressed path-style
            options |= {"endpoint": config.endpoint, "virtual_hosted_style_request": False}
        if keys.access_key_id is not None:
            options["access_key_id"] = keys.access_key_id.get_secret_value()
        if keys.secret_access_key is not None:
            options["secret_access_key"] = keys.secret_access_key.get_secret_value()
        if keys.session_token is not None:
            options["session_token"] = keys.session_token.get_secret_value()
        self.config = config
        self.store: S3Store = S3Store(
            config.bucket,
            config=options,
            client_options={"allow_http": bool(config.endpoint and config.endpoint.startswith("http://"))},
        )

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        from obstore.exceptions import BaseError

        try:
            yield
        except FileNotFoundError:
            raise _not_found(key) from None
        except (BaseError, OSError) as exc:
            raise StorageError(
                f"the S3 store {self.config} failed on {key!r}: {type(exc).__name__}",
                field="blob_url",
                accepted="a reachable S3 endpoint, an existing bucket and AWS_* keys that may use it",
            ) from exc

    async def _put(self, key: str, data: bytes, if_absent: bool) -> bool:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        with self._errors(key):
            try:
                await obstore.put_async(self.store, key, data, mode="create" if if_absent else "overwrite")
            except (AlreadyExistsError, PreconditionError):
                return False
        return True

    async def _get(self, key: str) -> bytes:
        import obstore

        with self._errors(key):
            found = await obstore.get_async(self.store, key)
            return bytes(await found.bytes_async())

    async def _stream(self, key: str, chunk_size: int) -> AsyncIterator[bytes]:
        import obstore

        with self._errors(key):
            found = await obstore.get_async(self.store, key)
            async for chunk in found.stream(min_chunk_size=chunk_size):
                yield bytes(chunk)

    async def _head(self, key: str) -> BlobInfo:
        import obstore

        with self._errors(key):
            meta = await obstore.head_async(self.store, key)
        return BlobInfo(key, meta["size"], meta["last_modified"].timestamp())

    async def _list(self, folder: str) -> builtins.list[BlobInfo]:
        import obstore

        found = []
        with self._errors(folder):
            async for batch in obstore.list(self.store, f"{folder}/" if folder else None, chunk_size=1000):
                found += [BlobInfo(m["path"], m["size"], m["last_modified"].timestamp()) for m in batch]
        return found

    async def _delete(self, keys: builtins.list[str], folder: str | None = None) -> None:
        import obstore

        if keys:
            with self._errors(keys[0]):
                await obstore.delete_async(self.store, keys)

    async def _url(self, key: str, expires: timedelta) -> str | None:
        import obstore

        if not self.config.presign:
            return None
        with self._errors(key):
            return await obstore.sign_async(self.store, "GET", key, expires)


def open_blobs(location: FileBlobLocation | S3Config) -> Blobs:
    """The blob store a settings location names (`Settings.blobs`). Raises BackendUnavailable."""
    if isinstance(location, FileBlobLocation):
        return FileBlobs(location.root)
    return S3Blobs(location)
