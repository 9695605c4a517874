"""The homepage tool: build a saved shop's small website (index, about, services, contact) as a job.
Follow it with check_generation_status, stop it with stop_generation, like an ad job."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from nanococoa_mcp.ad.pipeline import ProgressEvent
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.jobs.models import JobStatus
from nanococoa_mcp.service import Service, get_service
from nanococoa_mcp.stores import MIN_PHOTOS_TO_GENERATE
from nanococoa_mcp.tools.context import progress_sink
from nanococoa_mcp.tools.stores import StoreId

MAX_WAIT_SEC = 1800.0  # a whole site takes several ad jobs; settings.max_wait_sec bounds it further


async def submit_homepage(service: Service, store_id: str) -> JobStatus:
    """Queue a homepage job for a saved store. Raises NotFound, InvalidInput (no photo) or QueueFull.

    The job keeps the record and photo paths as they are now: a later update_store changes the next site,
    not this one (nor this one's resume after a restart).
    """
    store = await service.stores.get(store_id)
    if len(store.photos) < MIN_PHOTOS_TO_GENERATE:
        raise InvalidInput(
            "the store has no product photo to make the site's images from",
            field="photos",
            accepted="at least one product photo (create_store or update_store with photo_paths or photos)",
        )
    parameters = {
        "store_id": store.store_id,
        "store_name": store.record.get("store_name", ""),
        "record": store.record,
        "photos": store.photos,
    }
    return await service.submit("homepage", parameters)


async def generate_homepage(
    store_id: StoreId,
    wait: Annotated[
        bool, Field(description="Wait for the site (with progress by workflow node) instead of returning at once.")
    ] = False,
    wait_timeout_sec: Annotated[
        float, Field(gt=0, le=MAX_WAIT_SEC, description="With wait: the longest to wait before returning the job.")
    ] = 300.0,
) -> JobStatus:
    """Build the shop's website from its saved record and photos: a LangGraph workflow plans the concept,
    marketing, structure and copy, makes hero/product/call-to-action images with generate_ad_image, and
    writes index, about, services and contact pages (plus a zip). Returns the job at once (poll
    check_generation_status; `result` holds output_path, pages, generated_images, zip_path, site_id), or
    with wait=true the finished job."""
    service = get_service()
    status = await submit_homepage(service, store_id)
    if not wait:
        return status
    sink = progress_sink.get()

    def on_update(st: JobStatus) -> None:
        if sink is not None:
            node = st.current_step or "queued"
            sink(ProgressEvent(st.progress_percent, node, st.status, st.message or "", 0))

    return await service.wait(status.job_id, min(wait_timeout_sec, service.settings.max_wait_sec), on_update)
