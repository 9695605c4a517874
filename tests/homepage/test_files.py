"""A homepage run's files through a blob store that is not its working directory (the distributed stack's
shape, here on a directory store): photos by key, the site published and served by key with nothing hidden or
outside it, the images of an earlier attempt restored; and in place on the data directory, nothing copied."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from nanococoa_mcp.blobs import FileBlobs, check_key
from nanococoa_mcp.errors import InvalidInput, NotFound
from nanococoa_mcp.homepage.files import SiteFiles, site_folder
from tests.conftest import SAMPLES

SITE = "떡집_20260123_143052"


def made_site(work: Path) -> tuple[Path, Path]:
    """A finished site in the working directory, as node H leaves it: pages, css, an image, a hidden file, a zip."""
    site = work / "generated_sites" / SITE
    (site / "css").mkdir(parents=True)
    (site / "images").mkdir()
    (site / "index.html").write_text("<!doctype html><title>첫 화면</title>")
    (site / "css" / "style.css").write_text("body { color: #222; }")
    (site / "images" / "hero.jpg").write_bytes(b"\xff\xd8hero")
    (site / ".index.html.tmp").write_text("half written")
    zip_path = site.with_name(f"{SITE}.zip")
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.write(site / "index.html", f"{SITE}/index.html")
    return site, zip_path


def test_a_site_id_in_hangul_gets_one_valid_reversible_key_and_an_ascii_one_is_kept() -> None:
    folder = site_folder(SITE)
    name = folder.removeprefix("generated_sites/")
    assert check_key(folder) == folder and name.startswith("xn--")
    assert name.removeprefix("xn--").encode("ascii").decode("punycode") == SITE
    assert site_folder("shop_20260123_143052") == "generated_sites/shop_20260123_143052"


async def test_a_published_site_is_served_by_key_and_nothing_hidden_or_outside_it(tmp_path: Path) -> None:
    files = SiteFiles(FileBlobs(tmp_path / "blobs"), tmp_path / "work")
    site, zip_path = made_site(tmp_path / "work")
    await files.publish(site, zip_path)
    await files.clear()
    assert not (tmp_path / "work" / "generated_sites").exists()  # only the blob store has it now
    assert "첫 화면" in (await files.read(SITE, "")).decode()
    assert await files.read(SITE, "index.html") == await files.read(SITE, "")
    assert await files.read(SITE, "css/style.css") == b"body { color: #222; }"
    assert (await files.read_zip(SITE))[:2] == b"PK"
    for name in (".index.html.tmp", "../secret.txt", "missing.html", "images/../../x"):
        with pytest.raises(NotFound):
            await files.read(SITE, name)
    for site_id in ("..", "no-such-site"):
        with pytest.raises(NotFound):
            await files.read(site_id, "")
        with pytest.raises(NotFound):
            await files.read_zip(site_id)


async def test_a_run_resumed_elsewhere_gets_back_the_images_an_earlier_attempt_kept(tmp_path: Path) -> None:
    blobs = FileBlobs(tmp_path / "blobs")
    first = SiteFiles(blobs, tmp_path / "first")
    site, _ = made_site(tmp_path / "first")
    await first.save(site, "images/hero.jpg")  # as node E keeps each image
    second = SiteFiles(blobs, tmp_path / "second")
    there = tmp_path / "second" / "generated_sites" / SITE
    assert await second.restore(there) == 1
    assert (there / "images" / "hero.jpg").read_bytes() == b"\xff\xd8hero"
    assert await second.restore(there) == 0  # what is here already is not fetched again


async def test_photos_are_files_on_this_machine_or_keys_fetched_once(tmp_path: Path) -> None:
    blobs = FileBlobs(tmp_path / "blobs")
    await blobs.put("stores/s1/photo-1-ab.png", (SAMPLES / "dango.png").read_bytes())
    files = SiteFiles(blobs, tmp_path / "work")
    kept = await files.check_photos([SAMPLES / "fish.png", "stores/s1/photo-1-ab.png"])
    assert kept == [str((SAMPLES / "fish.png").resolve()), "stores/s1/photo-1-ab.png"]
    local = await files.photo(kept[1])
    assert local.read_bytes() == (SAMPLES / "dango.png").read_bytes() and await files.photo(kept[0]) == Path(kept[0])
    with pytest.raises(InvalidInput) as info:
        await files.check_photos([SAMPLES / "fish.png", "stores/s1/missing.png"])
    assert info.value.field == "photos[1]"


async def test_on_the_data_directory_everything_stays_where_it_lies(tmp_path: Path) -> None:
    files = SiteFiles(FileBlobs(tmp_path), tmp_path)
    site, zip_path = made_site(tmp_path)
    await files.publish(site, zip_path)
    await files.clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generated_sites"]  # nothing copied, nothing removed
    assert await files.read(SITE, "css/style.css") == b"body { color: #222; }"
    assert (await files.read_zip(SITE))[:2] == b"PK"
    with pytest.raises(NotFound):
        await files.read(SITE, ".index.html.tmp")


async def test_a_site_id_in_the_blob_store_goes_to_the_first_run_that_claims_it(tmp_path: Path) -> None:
    files = SiteFiles(FileBlobs(tmp_path / "bucket"), tmp_path / "work")
    assert await files.claim(SITE, "job-a")
    assert not await files.claim(SITE, "job-b")  # another run (another worker, another tenant) gets another id
    assert await files.claim(SITE, "job-a")  # the same run asking again keeps it
    assert await files.claim("shop_20260123_143052", "job-b")
    with pytest.raises(NotFound):  # the marker is beside the site's folder, never served as one of its files
        await files.read(SITE, "../" + site_folder(SITE).removeprefix("generated_sites/") + ".job")


async def test_in_place_every_claim_is_granted(tmp_path: Path) -> None:
    files = SiteFiles(FileBlobs(tmp_path), tmp_path)
    assert await files.claim(SITE, "job-a") and await files.claim(SITE, "job-b")
