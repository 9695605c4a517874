"""Where a homepage run's files live: the shop's photos it reads, the ads it copies in, and the site it makes.

On the embedded stack everything is a file under the data directory, used where it lies. On the distributed
stack they live in the blob store under deterministic keys (`stores/{id}/…`, `jobs/{ad}/final_1.png`,
`generated_sites/{site}/…`, `generated_sites/{site}.zip`) and a run works in its worker's scratch directory:
photos and ads are fetched, each image the site gets goes back as soon as it is made (a run resumed on another
worker finds it), and the finished site with its zip is published, so every API replica serves it.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path

from nanococoa_mcp.blobs import BlobNotFound, Blobs, FileBlobs, check_key
from nanococoa_mcp.errors import InvalidInput, NotFound
from nanococoa_mcp.homepage.site import SITES_DIR
from nanococoa_mcp.storage import write_bytes_atomic

INDEX = "index.html"


def site_folder(site_id: str) -> str:
    """The blob folder of a site. A site id keeps the store's Hangul, which keys do not take: such an id is
    spelt in Punycode (`xn--…`, as in domain names), so the key stays one readable, reversible name."""
    try:
        name = check_key(site_id)
    except InvalidInput:
        name = "xn--" + site_id.encode("punycode").decode("ascii")
    return f"{SITES_DIR}/{name}"


def site_missing(site_id: str, name: str) -> NotFound:
    return NotFound(f"no file {name or INDEX!r} in site {site_id!r}", field="path", accepted="a file of the site")


class SiteFiles:
    """A run's files in `blobs`, worked on under `work_dir` (the data directory, or a worker's scratch). When
    `blobs` is that very directory (the embedded stack) every file is already where it is served."""

    def __init__(self, blobs: Blobs, work_dir: Path) -> None:
        self.blobs = blobs
        self.work_dir = work_dir
        self.in_place = isinstance(blobs, FileBlobs) and blobs.root.resolve() == work_dir.resolve()

    # ---------------------------------------------------------------- what a run reads

    async def check_photos(self, photos: Sequence[str | Path]) -> list[str]:
        """The photos as the run keeps them: a file on this machine by its absolute path, else a blob key (a
        shop's photo on the distributed stack). Raises InvalidInput naming the photo that is neither."""
        out = []
        for n, photo in enumerate(photos):
            path = Path(photo).expanduser()
            if await asyncio.to_thread(path.is_file):
                out.append(str(path.resolve()))
                continue
            try:
                key = check_key(str(photo), f"photos[{n}]")
                found = await self.blobs.exists(key)
            except InvalidInput:
                found = False
            if not found:
                raise InvalidInput(f"no file at {photo}", field=f"photos[{n}]", accepted="an existing image file")
            out.append(key)
        return out

    async def photo(self, ref: str) -> Path:
        """A local file of the photo `ref` (check_photos' form): the file itself, or the object fetched once."""
        if Path(ref).is_absolute():
            return Path(ref)
        local = self.work_dir / "homepage" / ref
        if not local.is_file():
            await self._fetch(ref, local)
        return local

    async def ad_image(self, job_id: str, image_path: str) -> Path:
        """A local file of an ad job's image: where its result says, when that is on this machine, else its
        copy in the blob store (`jobs/{id}/{name}`), fetched."""
        path = Path(image_path)
        if await asyncio.to_thread(path.is_file):
            return path
        local = self.work_dir / "homepage" / "ads" / job_id / path.name
        await self._fetch(f"jobs/{job_id}/{path.name}", local)
        return local

    # ---------------------------------------------------------------- what a run makes

    async def claim(self, site_id: str, job_id: str) -> bool:
        """Whether run `job_id` may make the site `site_id`. In the blob store the first run to ask gets it (a
        write-once marker beside the site's folder, never served): two runs on two workers in the same second,
        of one tenant or two, never publish over each other's site."""
        if self.in_place:
            return True  # one machine: new_site_id's look at the folder suffices
        key = f"{site_folder(site_id)}.job"
        if await self.blobs.put(key, job_id.encode(), if_absent=True):
            return True
        return await self.blobs.get(key) == job_id.encode()

    async def save(self, site_dir: Path, name: str) -> None:
        """Keep one file the site has just got (`images/hero.jpg`) before the run goes on."""
        if not self.in_place:
            data = await asyncio.to_thread((site_dir / name).read_bytes)
            await self.blobs.put(f"{site_folder(site_dir.name)}/{name}", data)

    async def restore(self, site_dir: Path) -> int:
        """Fetch the site's files that an earlier attempt made elsewhere and that are not here; how many."""
        if self.in_place:
            return 0
        folder = site_folder(site_dir.name)
        fetched = 0
        for info in await self.blobs.list(folder):
            local = site_dir / info.key.removeprefix(f"{folder}/")
            if not await asyncio.to_thread(local.is_file):
                await self._fetch(info.key, local)
                fetched += 1
        return fetched

    async def publish(self, site_dir: Path, zip_path: Path) -> None:
        """The finished site and its zip, where every replica serves them."""
        if self.in_place:
            return
        names = await asyncio.to_thread(
            lambda: sorted(p.relative_to(site_dir).as_posix() for p in site_dir.rglob("*") if p.is_file())
        )
        for name in names:
            if not any(part.startswith(".") for part in name.split("/")):
                await self.save(site_dir, name)
        await self.blobs.put(f"{site_folder(site_dir.name)}.zip", await asyncio.to_thread(zip_path.read_bytes))

    async def clear(self) -> None:
        """Remove the local copies once a run has ended (everything of worth is in the blob store)."""
        if not self.in_place:
            for folder in ("homepage", SITES_DIR):
                await asyncio.to_thread(shutil.rmtree, self.work_dir / folder, True)

    # ---------------------------------------------------------------- what the doors serve

    async def read(self, site_id: str, name: str) -> bytes:
        """A finished site's file (`index.html` for '' or a folder): never a hidden one, never one outside the
        site. Raises NotFound."""
        if self.in_place:
            return await asyncio.to_thread(self._read_local, site_id, name)
        key = f"{site_folder(site_id)}/{name}"
        if not name or name.endswith("/"):
            key = f"{key.rstrip('/')}/{INDEX}"
        try:
            return await self.blobs.get(check_key(key))
        except (BlobNotFound, InvalidInput):
            raise site_missing(site_id, name) from None

    async def read_zip(self, site_id: str) -> bytes:
        """The finished site as a zip. Raises NotFound."""
        missing = NotFound("the site's zip is not there (yet)", field="job_id", accepted="a completed homepage job")
        if self.in_place:
            path = self.work_dir / SITES_DIR / f"{site_id}.zip"
            if path.parent.resolve() != (self.work_dir / SITES_DIR).resolve() or not path.is_file():
                raise missing
            return await asyncio.to_thread(path.read_bytes)
        try:
            return await self.blobs.get(f"{site_folder(site_id)}.zip")
        except (BlobNotFound, InvalidInput):
            raise missing from None

    def _read_local(self, site_id: str, name: str) -> bytes:
        root = (self.work_dir / SITES_DIR).resolve()
        site = (root / site_id).resolve()
        if site.parent != root or site_id.startswith(".") or not site.is_dir():
            raise site_missing(site_id, name)
        target = (site / name).resolve()
        if target.is_dir():
            target = target / INDEX
        hidden = any(p.startswith(".") for p in Path(name).parts)
        if (target != site and site not in target.parents) or hidden or not target.is_file():
            raise site_missing(site_id, name)
        return target.read_bytes()

    async def _fetch(self, key: str, local: Path) -> None:
        data = await self.blobs.get(key)
        await asyncio.to_thread(write_bytes_atomic, local, data, fsync=False)
