"""The homepage's job kind: a generate_homepage job runs `run_homepage` as a task beside the ad workers (in the
embedded server's pool, or in a `nanococoa worker`), never in an ad worker's slot: it mostly waits on the ad
jobs it submits through the tools. Its steps are the workflow's nodes; a run cut short by a restart or a dead
worker is queued again and resumes from its LangGraph checkpoint (thread id = job id)."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nanococoa_mcp.errors import InvalidInput, field_path
from nanococoa_mcp.homepage.files import SiteFiles
from nanococoa_mcp.homepage.models import MAX_PHOTOS, NODES, StoreRecord
from nanococoa_mcp.homepage.tool_caller import ToolCaller
from nanococoa_mcp.jobs.kinds import AfterRestart, JobContext, RunsIn
from nanococoa_mcp.jobs.models import JobTicket, Previews, Stage
from nanococoa_mcp.settings import Settings


class HomepageJob(BaseModel):
    """A homepage job's parameters: the store as it was when the job was queued (a later update_store
    changes the next site, not this one, nor this one's resume after a restart)."""

    model_config = ConfigDict(extra="forbid")

    store_id: str = Field(min_length=1)
    store_name: str = Field(description="The store's name, for job lists.")
    record: StoreRecord
    photos: list[str] = Field(
        max_length=MAX_PHOTOS,
        description="The store's product photos: paths on the embedded stack, blob keys on the distributed one.",
    )


class HomepageKind:
    name = "homepage"
    steps: tuple[str, ...] = NODES
    runs_in: RunsIn = "server"
    resumable = False  # a re-run from a step is an ad's; a homepage resumes by itself after a restart
    concurrency = 1

    def __init__(
        self, settings: Settings, tools: Callable[[], ToolCaller], files: Callable[[], SiteFiles] | None = None
    ) -> None:
        self.settings = settings
        self.tools = tools  # a fresh caller per run, closed when it ends
        self.files = files  # where photos, ads and sites live (default: the data directory)

    def check(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        try:
            job = HomepageJob.model_validate(dict(parameters))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidInput(first["msg"], field=field_path(first["loc"]) or None) from None
        return job.model_dump(mode="json")

    def eta_plan(self, parameters: Mapping[str, Any], start_step: int) -> list[Stage]:
        return []  # no learnt estimate: a site's time is mostly its ads', each with its own ETA

    def eta_group(self, parameters: Mapping[str, Any]) -> str:
        return ""

    def previews(self, job_id: str, result: Mapping[str, Any] | None) -> Previews:
        return Previews()

    def after_restart(self, steps_done: Sequence[str]) -> AfterRestart:
        return "requeue"

    async def run(self, job: JobTicket, context: JobContext) -> dict[str, Any]:
        # LangGraph is imported by the first run, not by every process that only registers the kind (each
        # server and worker would pay seconds of CPU for it at start), and in a thread: imported on the event
        # loop it held the loop for seconds on a busy machine, and a worker missed its heartbeats (taken for
        # dead twice, the run failed).
        await asyncio.to_thread(importlib.import_module, "nanococoa_mcp.homepage.run")
        from nanococoa_mcp.homepage.run import run_homepage

        params = HomepageJob.model_validate(job.parameters)

        def progress(node: str, percent: float, message: str) -> None:
            context.report(percent, node, None, message)

        tools = self.tools()
        files = self.files() if self.files is not None else None
        try:
            if files is not None:
                await _check_shop(params, tools)
            result = await run_homepage(
                job.job_id, params.record, params.photos, self.settings, tools,
                on_progress=progress, should_stop=context.should_stop, files=files,
            )
        finally:
            await tools.aclose()
            if files is not None:
                await files.clear()
        return result.model_dump(mode="json")


async def _check_shop(params: HomepageJob, tools: ToolCaller) -> None:
    """On the distributed stack a run reads only its own shop: the shop is the acting tenant's (get_store
    answers NotFound for another's) and every photo is one of that shop's objects (`stores/{id}/…`). Raises
    NotFound or InvalidInput."""
    await tools.call("get_store", {"store_id": params.store_id})
    folder = f"stores/{params.store_id}/"
    for n, photo in enumerate(params.photos):
        if not photo.startswith(folder) or ".." in photo.split("/"):
            raise InvalidInput(f"photo {photo!r} is not one of the shop's", field=f"photos[{n}]",
                               accepted=f"the shop's photos ({folder}…)")
