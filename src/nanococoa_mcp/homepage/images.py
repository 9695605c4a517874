"""Node E's side of the tool registry: the site's ads are made by calling `generate_ad_image` as an MCP client
of our own server (an in-memory session), never by reaching into the engine. Which ads to make (hero, one
per product photo, call to action) is planned here from the store's photos and the content's copy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastmcp import Client
from PIL import Image

from nanococoa_mcp.errors import InvalidInput, JobFailed, NanococoaError
from nanococoa_mcp.homepage.models import GeneratedImage, ImagePlan, ImageSpec, PageContent, StoreRecord
from nanococoa_mcp.homepage.profiles import profile_for
from nanococoa_mcp.jobs.cancel import JobStopped
from nanococoa_mcp.settings import Settings

log = logging.getLogger(__name__)
AD_SIZE = "1:1"  # square ads sit well in the hero's column, the product grid and the closing call to action
MAX_PRODUCT_IMAGES = 3
WEB_JPEG_QUALITY = 85
POLL_S = 0.5
TERMINAL = ("completed", "failed", "stopped")
# (percent within this image 0-100, message) as the ad job reports it
AdProgress = Callable[[float, str], None]


class ToolSession:
    """An in-memory MCP client session on our own server, opened on first use (its lifespan shares the job
    service when a door already runs one, else starts it) and closed with `aclose`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack = contextlib.AsyncExitStack()
        self._client: Client[Any] | None = None

    async def client(self) -> Client[Any]:
        if self._client is None:
            from nanococoa_mcp.server.mcp import build_server  # imported on use: the server imports the tools

            client: Client[Any] = Client(build_server(self.settings))
            self._client = await self._stack.enter_async_context(client)
            return client
        return self._client

    async def call(self, name: str, arguments: dict[str, Any], on_progress: AdProgress | None = None) -> dict[str, Any]:
        """The tool's structured result. Raises the error the tool reported (InvalidInput, JobFailed, …)."""
        client = await self.client()

        async def relay(progress: float, total: float | None, message: str | None) -> None:
            if on_progress is not None:
                try:
                    on_progress(100.0 * progress / (total or 100.0), message or "")
                except Exception:  # a progress listener never breaks the ad it listens to
                    log.exception("homepage progress listener failed")

        result = await client.call_tool(name, arguments, raise_on_error=False, progress_handler=relay)
        if result.is_error:
            raise _tool_error(name, result.content)
        if not isinstance(result.structured_content, dict):
            raise JobFailed(f"{name} returned no structured result", field="images")
        return dict(result.structured_content)

    async def aclose(self) -> None:
        await self._stack.aclose()
        self._client = None


def _tool_error(name: str, content: list[Any]) -> NanococoaError:
    text = next((getattr(c, "text", "") for c in content if getattr(c, "type", "") == "text"), "")
    try:
        payload = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        payload = {"message": text or "unknown error"}
    field, said = payload.get("field"), payload.get("message", text)
    message = f"{name} refused {field}: {said}" if field else f"{name}: {said}"
    if payload.get("error") == "invalid_input":  # the photo is what a homepage run gives the ad tool
        return InvalidInput(message, field="photos", accepted=payload.get("accepted"))
    return JobFailed(message, field="images")


async def known_styles(tools: ToolSession) -> tuple[set[str], set[str]]:
    listed = await tools.call("list_styles", {})
    return ({s["id"] for s in listed.get("scene_styles", [])}, {s["id"] for s in listed.get("text_styles", [])})


def plan_images(
    store: StoreRecord, content: PageContent, photos: list[str], scenes: set[str], texts: set[str]
) -> ImagePlan:
    """Hero from the first photo, one ad per further photo (the first again when it is the only one, at most
    three), and the call to action from the last photo: each with the content's copy for it."""
    if not photos:
        return ImagePlan(images=[])
    profile = profile_for(store.store_type)
    scene = profile.scene_style if profile.scene_style in scenes else "minimal"
    text_style = profile.text_style if profile.text_style in texts else "bold_clean"
    name = store.store_name
    specs = [ImageSpec(id="hero", photo=photos[0], copy_text=content.hero_ad.copy_text,
                       sub_copy=content.hero_ad.sub_copy, style=scene, text_style=text_style, size=AD_SIZE,
                       alt=f"{name} 광고 이미지: {content.hero_ad.copy_text} {content.hero_ad.sub_copy}".strip())]
    product_photos = (photos[1:] or photos[:1])[:MAX_PRODUCT_IMAGES]
    for n, photo in enumerate(product_photos, start=1):
        ad = content.product_ads[(n - 1) % len(content.product_ads)]
        specs.append(ImageSpec(id=f"product_{n}", photo=photo, copy_text=ad.copy_text, sub_copy=ad.sub_copy,
                               style=scene, text_style=text_style, size=AD_SIZE,
                               alt=f"{name} 상품 사진 광고: {ad.copy_text} {ad.sub_copy}".strip()))
    cta = content.cta_ad
    specs.append(ImageSpec(id="cta", photo=photos[-1], copy_text=cta.copy_text, sub_copy=cta.sub_copy, style=scene,
                           text_style="bold_clean" if "bold_clean" in texts else text_style, size=AD_SIZE,
                           alt=f"{name} 방문 안내 광고: {cta.copy_text} {cta.sub_copy}".strip()))
    return ImagePlan(images=specs)


async def make_image(
    tools: ToolSession,
    spec: ImageSpec,
    seed: int,
    site_dir: Path,
    settings: Settings,
    on_progress: AdProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> GeneratedImage:
    """One ad through `generate_ad_image` (wait=true, then polled if the wait ran out), copied into the site's
    images/. Raises InvalidInput for a photo the tool refuses, JobFailed for an ad that failed, JobStopped."""
    args = {"copy": spec.copy_text, "product_image_path": spec.photo, "style": spec.style,
            "text_style": spec.text_style, "size": spec.size, "seed": seed, "wait": True,
            "wait_timeout_sec": min(300.0, settings.max_wait_sec)}
    if spec.sub_copy:
        args["sub_copy"] = spec.sub_copy
    job = await tools.call("generate_ad_image", args, on_progress)
    while job["status"] not in TERMINAL:  # the wait ran out: follow the job until it ends
        if should_stop is not None and should_stop():
            await tools.call("stop_generation", {"job_id": job["job_id"]})
            raise JobStopped("the homepage run was stopped while an ad was being made", field="images")
        await asyncio.sleep(POLL_S)
        job = await tools.call("check_generation_status", {"job_id": job["job_id"]})
    if job["status"] != "completed" or not job.get("result"):
        error = (job.get("error") or {}).get("message", job["status"])
        raise JobFailed(f"the {spec.id} ad (job {job['job_id']}) did not finish: {error}", field="images")
    source = Path(job["result"]["variants"][0]["image_path"])
    target = site_dir / "images" / f"{spec.id}.jpg"
    width, height = await asyncio.to_thread(_save_web_image, source, target)
    return GeneratedImage(id=spec.id, file=f"images/{target.name}", ad_job_id=job["job_id"], alt=spec.alt,
                          width=width, height=height)


def _save_web_image(source: Path, target: Path) -> tuple[int, int]:
    """The ad as a progressive JPEG for the web (a tenth of the PNG's weight), written atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    with Image.open(source) as im:
        rgb = im.convert("RGB")
        rgb.save(tmp, format="JPEG", quality=WEB_JPEG_QUALITY, optimize=True, progressive=True)
        size = rgb.size
    tmp.replace(target)
    return size
