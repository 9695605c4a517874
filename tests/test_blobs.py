"""The blob store's contract, run against both stores: files under a directory, and a real S3 server
(SeaweedFS on loopback). Round trips, write-once races, folders, typed misses, refused keys, presigned URLs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from nanococoa_mcp.blobs import BlobNotFound, Blobs, FileBlobs, S3Blobs, open_blobs
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.locations import FileBlobLocation, S3Config
from nanococoa_mcp.settings import Settings
from tests.realservers_fixtures import S3Bucket

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64


def _s3_settings(bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch, presign: bool) -> Settings:
    for name, value in bucket.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NANOCOCOA_BLOB_URL", bucket.url + ("&presign=1" if presign else ""))
    return Settings()


@pytest.fixture(params=["file", "s3"])
async def blobs(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Blobs]:
    """Each store as the settings open it (the file store at its default, the data dir)."""
    if request.param == "file":
        store = open_blobs(Settings().blobs)
        assert isinstance(store, FileBlobs)
    else:
        store = open_blobs(_s3_settings(request.getfixturevalue("s3_bucket"), monkeypatch, presign=True).blobs)
        assert isinstance(store, S3Blobs)
    yield store
    await store.close()


async def test_what_is_put_is_got_streamed_and_described(blobs: Blobs) -> None:
    assert await blobs.put("jobs/j1/step1_0.png", PNG) is True
    assert await blobs.get("jobs/j1/step1_0.png") == PNG
    chunks = [c async for c in blobs.stream("jobs/j1/step1_0.png", chunk_size=4096)]
    assert b"".join(chunks) == PNG and len(chunks) >= 1
    info = await blobs.head("jobs/j1/step1_0.png")
    assert (info.key, info.size) == ("jobs/j1/step1_0.png", len(PNG))
    assert abs(info.modified - time.time()) < 60
    assert await blobs.exists("jobs/j1/step1_0.png") and not await blobs.exists("jobs/j1/final_0.png")


async def test_a_plain_put_replaces_the_whole_object(blobs: Blobs) -> None:
    await blobs.put("uploads/u1.jpg", b"first version, longer than the second")
    assert await blobs.put("uploads/u1.jpg", b"second") is True
    assert await blobs.get("uploads/u1.jpg") == b"second"
    assert [i.key for i in await blobs.list("uploads")] == ["uploads/u1.jpg"]  # no temp file left behind


async def test_a_write_once_put_keeps_the_first_object(blobs: Blobs) -> None:
    assert await blobs.put("jobs/j2/result.json", b'{"n": 1}', if_absent=True) is True
    assert await blobs.put("jobs/j2/result.json", b'{"n": 2}', if_absent=True) is False
    assert await blobs.get("jobs/j2/result.json") == b'{"n": 1}'


async def test_of_concurrent_write_once_puts_exactly_one_wins(blobs: Blobs) -> None:
    for round_ in range(2):  # SeaweedFS holds each losing conditional PUT about a second
        key = f"jobs/race/final_{round_}.png"
        bodies = [f"writer {i} ".encode() * 2000 for i in range(4)]
        won = await asyncio.gather(*(blobs.put(key, body, if_absent=True) for body in bodies))
        assert won.count(True) == 1
        assert await blobs.get(key) == bodies[won.index(True)]  # the winner's bytes, whole


async def test_listing_a_folder_holds_only_its_own_keys(blobs: Blobs) -> None:
    for key in ("jobs/a/step1_0.png", "jobs/a/steps/cutout.png", "jobs/ab/step1_0.png", "uploads/a.jpg"):
        await blobs.put(key, key.encode())
    listed = await blobs.list("jobs/a")
    assert [(i.key, i.size) for i in listed] == [("jobs/a/step1_0.png", 18), ("jobs/a/steps/cutout.png", 23)]
    assert [i.key for i in await blobs.list("jobs/a/")] == [i.key for i in listed]
    assert await blobs.list("jobs/none") == []
    everything = {i.key for i in await blobs.list()}
    assert {"jobs/a/step1_0.png", "jobs/ab/step1_0.png", "uploads/a.jpg"} <= everything


async def test_deleting_a_folder_removes_it_and_nothing_beside_it(blobs: Blobs) -> None:
    for key in ("jobs/a/step1_0.png", "jobs/a/steps/cutout.png", "jobs/ab/step1_0.png"):
        await blobs.put(key, b"x")
    assert await blobs.delete_prefix("jobs/a") == 2
    assert await blobs.list("jobs/a") == [] and not await blobs.exists("jobs/a/step1_0.png")
    assert [i.key for i in await blobs.list("jobs")] == ["jobs/ab/step1_0.png"]
    assert await blobs.delete_prefix("jobs/a") == 0
    await blobs.delete("jobs/ab/step1_0.png")
    await blobs.delete("jobs/ab/step1_0.png")  # a missing key is no error
    assert await blobs.list("jobs") == []
    with pytest.raises(InvalidInput) as everything:
        await blobs.delete_prefix("")
    assert everything.value.field == "prefix"


async def test_a_missing_key_is_a_typed_not_found(blobs: Blobs) -> None:
    for attempt in (blobs.get("jobs/none/final_0.png"), blobs.head("jobs/none/final_0.png")):
        with pytest.raises(BlobNotFound) as info:
            await attempt
        assert (info.value.code, info.value.field) == ("not_found", "key")
    with pytest.raises(BlobNotFound):
        _ = [c async for c in blobs.stream("jobs/none/final_0.png")]


@pytest.mark.parametrize(
    "key",
    ["../etc/passwd", "jobs/../../x", "/etc/passwd", "jobs//x", "jobs/./x", "jobs/x/", "", "jobs\\x",
     ".hidden", "jobs/.staging-1/x", "jobs/a b.png", "jobs/\x00.png", "x" * 1025],
)
async def test_keys_that_could_leave_the_store_are_refused(blobs: Blobs, key: str) -> None:
    for attempt in (blobs.put(key, b"x"), blobs.get(key), blobs.head(key), blobs.delete(key)):
        with pytest.raises(InvalidInput) as info:
            await attempt
        assert info.value.field == "key" and "relative key" in (info.value.accepted or "")
    with pytest.raises(InvalidInput):
        await blobs.list(key if key not in ("", "jobs/x/") else "../x")


async def test_a_presigned_url_serves_the_object_until_it_expires(blobs: Blobs) -> None:
    await blobs.put("jobs/j3/final_0.png", PNG)
    url = await blobs.url("jobs/j3/final_0.png", timedelta(minutes=5))
    if isinstance(blobs, FileBlobs):
        assert url is None  # served through the API instead
        assert blobs.local_path("jobs/j3/final_0.png").read_bytes() == PNG
        return
    assert url is not None
    short = await blobs.url("jobs/j3/final_0.png", timedelta(seconds=1))
    assert short is not None
    async with httpx.AsyncClient(timeout=10) as client:
        got = await client.get(url)
        assert got.status_code == 200 and got.content == PNG
        await asyncio.sleep(2.2)
        expired = await client.get(short)
        assert expired.status_code == 403
    with pytest.raises(InvalidInput) as too_long:
        await blobs.url("jobs/j3/final_0.png", timedelta(days=8))
    assert too_long.value.field == "expires"


def test_the_file_store_names_local_paths_inside_its_root(data_dir: Path) -> None:
    store = FileBlobs(data_dir)
    assert store.local_path("jobs/j1/step1_0.png") == data_dir / "jobs" / "j1" / "step1_0.png"
    with pytest.raises(InvalidInput):
        store.local_path("../outside.png")
    assert open_blobs(FileBlobLocation(data_dir / "b")).local_path("a") == data_dir / "b" / "a"  # type: ignore[attr-defined]


async def test_an_s3_store_without_presign_hands_out_no_urls(
    s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = _s3_settings(s3_bucket, monkeypatch, presign=False).blobs
    assert isinstance(location, S3Config) and not location.presign
    store = open_blobs(location)
    await store.put("jobs/j4/final_0.png", b"png")
    assert await store.url("jobs/j4/final_0.png", timedelta(minutes=5)) is None
    assert await store.get("jobs/j4/final_0.png") == b"png"
