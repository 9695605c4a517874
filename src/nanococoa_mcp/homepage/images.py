"""Node E's side of the tool registry: the site's ads are made by calling `generate_ad_image` through a
ToolCaller (never by reaching into the ad product), which ads to make (hero, one per product photo, call to
action) planned here from the store's photos and the content's copy. A full queue is waited out; a photo
the ad tool refuses is the caller's to record and skip."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from nanococoa_mcp.errors import JobFailed, QuotaExceeded
from nanococoa_mcp.homepage.files import SiteFiles
from nanococoa_mcp.homepage.models import GeneratedImage, ImagePlan, ImageSpec, PageContent, StoreRecord
from nanococoa_mcp.homepage.profiles import profile_for
from nanococoa_mcp.homepage.tool_caller import ToolCaller, ToolProgress
from nanococoa_mcp.jobs.cancel import JobStopped
from nanococoa_mcp.jobs.models import TERMINAL, QueueFull
from nanococoa_mcp.settings import Settings

AD_SIZE = "1:1"  # square ads sit well in the hero's column, the product grid and the closing call to action
MAX_PRODUCT_IMAGES = 3
WEB_JPEG_QUALITY = 85
POLL_S = 0.5
# A full queue is waited out: retried after BACKOFF_S, doubling up to settings.queue_retry_max_sec, for
# QUEUE_WAIT_MAX_S at most.
BACKOFF_S = 0.5
QUEUE_WAIT_MAX_S = 1800.0
STOP_CHECK_S = 0.25


async def known_styles(tools: ToolCaller) -> tuple[set[str], set[str]]:
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


async def _stoppable_sleep(seconds: float, should_stop: Callable[[], bool] | None, spec: ImageSpec) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if should_stop is not None and should_stop():
            raise JobStopped(f"the homepage run was stopped while the {spec.id} ad waited for room", field="images")
        await asyncio.sleep(min(STOP_CHECK_S, left))


async def submit_ad(
    tools: ToolCaller,
    arguments: dict[str, Any],
    spec: ImageSpec,
    on_progress: ToolProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_delay_s: float = 5.0,
) -> dict[str, Any]:
    """generate_ad_image, retried with backoff (doubling up to `max_delay_s`) while the queue is full (a full
    queue is a wait, not a failure; its wait is reported through `on_progress`). Raises QueueFull after
    QUEUE_WAIT_MAX_S, JobStopped, and the tool's other errors as they are."""
    delay, waited = min(BACKOFF_S, max_delay_s), 0.0
    while True:
        try:
            return await tools.call("generate_ad_image", arguments, on_progress)
        except (QueueFull, QuotaExceeded) as exc:
            # The tenant's own waiting jobs (this run's earlier ads among them) pass like a full queue; its
            # hourly or stored quota does not pass within a homepage run.
            if waited >= QUEUE_WAIT_MAX_S or (isinstance(exc, QuotaExceeded) and exc.quota != "queued_jobs"):
                raise
            if on_progress is not None:
                on_progress(0.0, "대기열이 가득 차서 자리가 나기를 기다리는 중")
            await _stoppable_sleep(delay, should_stop, spec)
            waited += delay
            delay = min(max_delay_s, delay * 2)


async def make_image(
    tools: ToolCaller,
    spec: ImageSpec,
    seed: int,
    site_dir: Path,
    settings: Settings,
    files: SiteFiles,
    on_progress: ToolProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> GeneratedImage:
    """One ad through `generate_ad_image` (wait=true, then polled if the wait ran out), copied into the site's
    images/ and kept (`files.save`) before the run goes on. Raises InvalidInput for a photo the tool refuses,
    JobFailed for an ad that failed, JobStopped."""
    photo = await files.photo(spec.photo)
    args: dict[str, Any] = {
        "copy": spec.copy_text, "product_image_path": str(photo), "style": spec.style,
        "text_style": spec.text_style, "size": spec.size, "seed": seed, "wait": True,
        "wait_timeout_sec": min(300.0, settings.max_wait_sec),
    }
    if spec.sub_copy:
        args["sub_copy"] = spec.sub_copy
    job = await submit_ad(tools, args, spec, on_progress, should_stop, max_delay_s=settings.queue_retry_max_sec)
    while job["status"] not in TERMINAL:  # the wait ran out: follow the job until it ends
        if should_stop is not None and should_stop():
            await tools.call("stop_generation", {"job_id": job["job_id"]})
            raise JobStopped("the homepage run was stopped while an ad was being made", field="images")
        await asyncio.sleep(POLL_S)
        job = await tools.call("check_generation_status", {"job_id": job["job_id"]})
    result = job.get("result")
    if job["status"] != "completed" or not isinstance(result, dict):
        error = job.get("error")
        said = error.get("message", job["status"]) if isinstance(error, dict) else job["status"]
        raise JobFailed(f"the {spec.id} ad (job {job['job_id']}) did not finish: {said}", field="images")
    source = await files.ad_image(str(job["job_id"]), result["variants"][0]["image_path"])
    target = site_dir / "images" / f"{spec.id}.jpg"
    width, height = await asyncio.to_thread(_save_web_image, source, target)
    await files.save(site_dir, f"images/{target.name}")
    return GeneratedImage(id=spec.id, file=f"images/{target.name}", ad_job_id=str(job["job_id"]), alt=spec.alt,
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
