"""`run_homepage`, what every door calls: one homepage run per job id, resumed from its checkpoint when the
job id has one, answering in the seed's shape (status, output_path, pages, generated_images) plus more."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.blobs import FileBlobs
from nanococoa_mcp.errors import Conflict, InvalidInput
from nanococoa_mcp.homepage.files import SiteFiles
from nanococoa_mcp.homepage.graph import HomepageState, Progress, Run, checkpointer, compile_graph, new_site_id
from nanococoa_mcp.homepage.models import MAX_PHOTOS, NodeNote, SkippedImage, StoreRecord, WriterName
from nanococoa_mcp.homepage.tool_caller import ToolCaller
from nanococoa_mcp.homepage.writer import writer_for
from nanococoa_mcp.settings import Settings

RECURSION_LIMIT = 50  # supersteps: 5 planning nodes + at most 5 images + 3 output nodes, with room


class HomepageResult(BaseModel):
    """The seed's answer (status, output_path, pages, generated_images) plus the site's id, its zip, which
    writer made each node, the ads it went without and whether this call resumed an earlier run."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["success"] = "success"
    output_path: str = Field(description="The site's folder: <data_dir>/generated_sites/<site_id>.")
    pages: list[str] = Field(description="index.html, about.html, services.html, contact.html.")
    generated_images: int = Field(description="Ads made with generate_ad_image and placed in images/.")
    zip_path: str = Field(description="The whole site as a zip, next to its folder.")
    site_id: str = Field(description="<store>_<YYYYmmdd_HHMMSS>, the folder's name.")
    writer: WriterName = Field(description="The writer configured for this run: llm or builtin.")
    notes: list[NodeNote] = Field(description="Per writing node: who wrote it, and why the built-in writer stood in.")
    ad_job_ids: list[str] = Field(description="The ad jobs whose images the site uses.")
    skipped_images: list[SkippedImage] = Field(
        default_factory=list, description="Ads the site goes without: the ad tool refused their photo."
    )
    resumed: bool = Field(description="This call continued a run that had stopped or crashed.")


async def _check_photos(photos: Sequence[str | Path], files: SiteFiles) -> list[str]:
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput(f"{len(photos)} photos were given", field="photos", accepted=f"at most {MAX_PHOTOS}")
    return await files.check_photos(photos)


async def _claim_site_id(job_id: str, store: StoreRecord, settings: Settings, files: SiteFiles) -> str:
    """A site id no other run has: new_site_id's, with a further suffix while another run holds it."""
    base = new_site_id(store, settings)
    candidate, n = base, 1
    while not await files.claim(candidate, job_id):
        n += 1
        candidate = f"{base}_{n}"
    return candidate


async def run_homepage(
    job_id: str,
    store: StoreRecord,
    photos: Sequence[str | Path],
    settings: Settings,
    tools: ToolCaller,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    files: SiteFiles | None = None,
) -> HomepageResult:
    """Build (or finish building) the homepage of run `job_id`, making its ads through `tools`.

    A job id with a checkpoint continues from its last finished node and image; one whose run finished
    answers its result again without doing anything. `on_progress(node, percent, message)` is called as
    nodes and ads advance; `should_stop()` is checked before every node and while an ad is awaited or waits
    for room in a full queue. A photo the ad tool refuses is recorded (`skipped_images`) and the run goes on.
    `files` says where photos, ads and the site live (default: files under the data directory); a photo is a
    path on this machine or a key of `files`' blob store.
    Raises InvalidInput (a missing photo, every photo refused), Conflict (the job id's checkpoint belongs to
    another store or photos), JobStopped, JobFailed (an ad that failed)."""
    if not job_id.strip():
        raise InvalidInput("the job id is empty", field="job_id", accepted="a non-empty id")
    files = files or SiteFiles(FileBlobs(settings.data_dir, fsync=False, setting="data_dir"), settings.data_dir)
    paths = await _check_photos(photos, files)
    writer = writer_for(settings)
    run = Run(settings=settings, writer=writer, tools=tools, files=files, on_progress=on_progress,
              should_stop=should_stop)
    config: RunnableConfig = {"configurable": {"thread_id": job_id}, "recursion_limit": RECURSION_LIMIT}
    async with checkpointer(settings) as saver:
        graph = compile_graph(run, saver)
        snapshot = await graph.aget_state(config)
        earlier: dict[str, Any] = dict(snapshot.values or {})
        if earlier:
            if earlier["store"] != store or earlier["photos"] != paths:
                raise Conflict(
                    f"job {job_id} already has a homepage run for another store record or other photos",
                    field="job_id",
                    accepted="the same record and photos to resume it, or a new job id",
                )
            values = await graph.ainvoke(None, config, durability="sync") if snapshot.next else earlier
        else:
            start: HomepageState = {"job_id": job_id, "store": store, "photos": paths,
                                    "site_id": await _claim_site_id(job_id, store, settings, files), "notes": []}
            values = await graph.ainvoke(start, config, durability="sync")
    package = values["package"]
    images = values.get("images", [])
    return HomepageResult(
        output_path=package.output_path,
        pages=package.pages,
        generated_images=len(images),
        zip_path=package.zip_path,
        site_id=package.site_id,
        writer=writer.name,
        notes=values.get("notes", []),
        ad_job_ids=[i.ad_job_id for i in images],
        skipped_images=values.get("skipped_images", []),
        resumed=bool(earlier),
    )
