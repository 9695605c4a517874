"""The homepage workflow as a LangGraph StateGraph: brainstorm → A concept → B marketing → C structure →
D content → E images (one ad per step) → F header/footer → G pages → H package, checkpointed with the job id
as the thread (in SQLite under the data directory, or in PostgreSQL on the distributed stack, where any worker
may resume it), so a run that stops or crashes resumes from the last finished node (and the last finished
image)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from nanococoa_mcp.errors import BackendUnavailable, InvalidInput
from nanococoa_mcp.homepage import images as image_node
from nanococoa_mcp.homepage.files import SiteFiles
from nanococoa_mcp.homepage.korean import slug
from nanococoa_mcp.homepage.models import (
    NODES,
    STATE_MODELS,
    Brainstorm,
    Concept,
    GeneratedImage,
    HeaderFooter,
    ImagePlan,
    MarketingStrategy,
    NodeNote,
    Package,
    PageContent,
    Pages,
    SiteStructure,
    SkippedImage,
    StoreRecord,
)
from nanococoa_mcp.homepage.site import SITES_DIR, SiteInput, render_pages, write_site
from nanococoa_mcp.homepage.tool_caller import ToolCaller
from nanococoa_mcp.homepage.writer import Writer
from nanococoa_mcp.jobs.cancel import JobStopped
from nanococoa_mcp.locations import PostgresDatabase
from nanococoa_mcp.settings import Settings

CHECKPOINT_DB = "homepage_checkpoints.db"
# Workers starting together create the PostgreSQL checkpointer's tables one at a time (an advisory lock).
SETUP_LOCK = 0x6E63_6870  # "nchp"
# Where each node starts, in percent of the run (images take most of the time: real ads are made).
NODE_START: dict[str, float] = {"brainstorm": 0, "concept": 6, "marketing": 10, "structure": 14, "content": 18,
                                "images": 24, "header_footer": 86, "pages": 89, "package": 95}
IMAGES_SPAN = NODE_START["header_footer"] - NODE_START["images"]
NODE_MESSAGES = {
    "brainstorm": "매니저·마케터·디자이너가 방향을 정하는 중",
    "concept": "매장 컨셉 정의",
    "marketing": "마케팅 전략 수립",
    "structure": "홈페이지 구조 설계",
    "content": "페이지 콘텐츠 작성",
    "header_footer": "머리말·바닥글 만드는 중",
    "pages": "페이지 HTML 만드는 중",
    "package": "파일 저장·압축 중",
}
Progress = Callable[[str, float, str], None]


def _add_notes(left: list[NodeNote], right: list[NodeNote]) -> list[NodeNote]:
    return left + right


class HomepageState(TypedDict, total=False):
    job_id: str
    store: StoreRecord
    photos: list[str]
    site_id: str
    brainstorm: Brainstorm
    concept: Concept
    marketing: MarketingStrategy
    structure: SiteStructure
    content: PageContent
    image_plan: ImagePlan
    images: list[GeneratedImage]
    skipped_images: list[SkippedImage]
    header_footer: HeaderFooter
    pages: Pages
    package: Package
    notes: Annotated[list[NodeNote], _add_notes]


def serializer() -> JsonPlusSerializer:
    """Checkpoints hold our pydantic models; only those (and langgraph's own safe types) are revived."""
    return JsonPlusSerializer(allowed_msgpack_modules=[(m.__module__, m.__name__) for m in STATE_MODELS])


@contextlib.asynccontextmanager
async def checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """The run's checkpoints: the database NANOCOCOA_DATABASE_URL names when it is PostgreSQL (LangGraph's
    Postgres checkpointer, its tables beside the jobs), else SQLite under the data directory."""
    if isinstance(settings.database, PostgresDatabase):
        async with _postgres_checkpointer(settings.database) as saver:
            yield saver
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(settings.data_dir / CHECKPOINT_DB) as conn:
        sqlite_saver = AsyncSqliteSaver(conn, serde=serializer())
        await sqlite_saver.setup()
        yield sqlite_saver


@contextlib.asynccontextmanager
async def _postgres_checkpointer(database: PostgresDatabase) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """Raises BackendUnavailable without the scale extra."""
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg import AsyncConnection
        from psycopg.rows import dict_row
    except ImportError as exc:
        raise BackendUnavailable(
            "homepage runs on PostgreSQL need langgraph-checkpoint-postgres",
            field="database_url",
            accepted="pip install 'nanococoa-mcp[scale]'",
        ) from exc
    conn = await AsyncConnection.connect(
        database.conninfo.get_secret_value(), autocommit=True, prepare_threshold=0, row_factory=dict_row
    )
    async with conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
        saver = AsyncPostgresSaver(conn, serde=serializer())
        try:
            await saver.setup()
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))
        yield saver


@dataclass
class Run:
    """What the nodes need besides the state: the writer, the tool caller and the runner's callbacks."""

    settings: Settings
    writer: Writer
    tools: ToolCaller
    files: SiteFiles
    on_progress: Progress | None = None
    should_stop: Callable[[], bool] | None = None

    def enter(self, node: str, percent: float | None = None, message: str | None = None) -> None:
        """Called as each node starts: honour a stop, then report progress."""
        if self.should_stop is not None and self.should_stop():
            raise JobStopped(f"the homepage run was stopped before {node}", field="node")
        self.progress(node, NODE_START[node] if percent is None else percent, message or NODE_MESSAGES[node])

    def progress(self, node: str, percent: float, message: str) -> None:
        if self.on_progress is not None:
            self.on_progress(node, round(min(100.0, max(0.0, percent)), 1), message)

    def site_dir(self, state: HomepageState) -> Path:
        return self.settings.data_dir / SITES_DIR / state["site_id"]


def build_graph(run: Run) -> StateGraph[HomepageState]:
    w = run.writer

    async def brainstorm(state: HomepageState) -> dict[str, Any]:
        run.enter("brainstorm")
        made = await w.brainstorm(state["store"])
        return {"brainstorm": made.output, "notes": [made.note]}

    async def concept(state: HomepageState) -> dict[str, Any]:
        run.enter("concept")
        made = await w.concept(state["store"], state["brainstorm"])
        return {"concept": made.output, "notes": [made.note]}

    async def marketing(state: HomepageState) -> dict[str, Any]:
        run.enter("marketing")
        made = await w.marketing(state["store"], state["brainstorm"], state["concept"])
        return {"marketing": made.output, "notes": [made.note]}

    async def structure(state: HomepageState) -> dict[str, Any]:
        run.enter("structure")
        made = await w.structure(state["store"], state["concept"], state["marketing"])
        return {"structure": made.output, "notes": [made.note]}

    async def content(state: HomepageState) -> dict[str, Any]:
        run.enter("content")
        made = await w.content(state["store"], state["concept"], state["marketing"], state["structure"])
        return {"content": made.output, "notes": [made.note]}

    async def images(state: HomepageState) -> dict[str, Any]:
        """One ad per step, so each finished ad is checkpointed and never made again on resume. A photo the
        ad tool refuses is recorded and its ads skipped; the others go on (all refused: the run fails)."""
        plan = state.get("image_plan")
        done = list(state.get("images", []))
        skipped = list(state.get("skipped_images", []))
        if plan is None:
            run.enter("images", message="광고 이미지 계획 중")
            scenes, texts = await image_node.known_styles(run.tools) if state["photos"] else (set(), set())
            plan = image_node.plan_images(state["store"], state["content"], state["photos"], scenes, texts)
        settled = {i.id for i in done} | {s.id for s in skipped}
        todo = [s for s in plan.images if s.id not in settled]
        if not todo:
            return {"image_plan": plan, "images": done, "skipped_images": skipped}
        spec, total, n = todo[0], len(plan.images), len(settled)
        refused = next((s for s in skipped if s.photo == spec.photo), None)
        if refused is not None:  # the same photo again: refused again, without asking
            skipped.append(SkippedImage(id=spec.id, photo=spec.photo, reason=refused.reason))
            return _with_skip(plan, done, skipped)
        start = NODE_START["images"] + IMAGES_SPAN * n / total
        run.enter("images", start, f"광고 이미지 {n + 1}/{total} 만드는 중 ({spec.id})")

        def relay(percent: float, message: str) -> None:
            run.progress("images", start + IMAGES_SPAN / total * percent / 100, f"{spec.id}: {message}")

        index = next(i for i, s in enumerate(plan.images) if s.id == spec.id)
        try:
            image = await image_node.make_image(
                run.tools, spec, index, run.site_dir(state), run.settings, run.files, relay, run.should_stop
            )
        except InvalidInput as exc:
            reason = f"generate_ad_image refused {exc.field}: {exc.message}" if exc.field else exc.message
            skipped.append(SkippedImage(id=spec.id, photo=spec.photo, reason=reason))
            return _with_skip(plan, done, skipped)
        return {"image_plan": plan, "images": [*done, image], "skipped_images": skipped}

    def after_images(state: HomepageState) -> str:
        plan = state.get("image_plan")
        settled = {i.id for i in state.get("images", [])} | {s.id for s in state.get("skipped_images", [])}
        if plan is not None and any(s.id not in settled for s in plan.images):
            return "images"
        return "header_footer"

    async def header_footer(state: HomepageState) -> dict[str, Any]:
        run.enter("header_footer")
        made = await w.header_footer(state["store"], state["concept"], state["structure"])
        return {"header_footer": made.output, "notes": [made.note]}

    async def pages(state: HomepageState) -> dict[str, Any]:
        run.enter("pages")
        site = SiteInput(store=state["store"], concept=state["concept"], structure=state["structure"],
                         content=state["content"], images=state.get("images", []), chrome=state["header_footer"])
        return {"pages": render_pages(site)}

    async def package(state: HomepageState) -> dict[str, Any]:
        run.enter("package")
        site_dir = run.site_dir(state)
        await run.files.restore(site_dir)  # the images an earlier attempt made on another machine
        made = await asyncio.to_thread(write_site, site_dir, state["pages"])
        await run.files.publish(site_dir, Path(made.zip_path))
        run.progress("package", 100.0, "홈페이지 완성")
        return {"package": made}

    graph: StateGraph[HomepageState] = StateGraph(HomepageState)
    graph.add_node("brainstorm", brainstorm)
    graph.add_node("concept", concept)
    graph.add_node("marketing", marketing)
    graph.add_node("structure", structure)
    graph.add_node("content", content)
    graph.add_node("images", images)
    graph.add_node("header_footer", header_footer)
    graph.add_node("pages", pages)
    graph.add_node("package", package)
    graph.add_edge(START, "brainstorm")
    for a, b in itertools.pairwise(NODES[:6]):  # brainstorm → … → images; images loops, then F → G → H
        graph.add_edge(a, b)
    graph.add_conditional_edges("images", after_images, ["images", "header_footer"])
    graph.add_edge("header_footer", "pages")
    graph.add_edge("pages", "package")
    graph.add_edge("package", END)
    return graph


def _with_skip(plan: ImagePlan, done: list[GeneratedImage], skipped: list[SkippedImage]) -> dict[str, Any]:
    """Node E's update after an ad was skipped. Raises InvalidInput once every ad is settled and none made:
    a site with no usable photo is the request's fault, not a site to deliver."""
    if not done and len(skipped) == len(plan.images):
        raise InvalidInput(
            f"the ad tool refused every photo: {skipped[0].reason}",
            field="photos",
            accepted="product photos the ad tool takes (see the reason)",
        )
    return {"image_plan": plan, "images": done, "skipped_images": skipped}


def new_site_id(store: StoreRecord, settings: Settings, now: dt.datetime | None = None) -> str:
    """`{store}_{YYYYmmdd_HHMMSS}` (the seed's folder name), with a suffix if that folder exists already."""
    base = f"{slug(store.store_name)}_{(now or dt.datetime.now()).strftime('%Y%m%d_%H%M%S')}"
    root = settings.data_dir / SITES_DIR
    candidate, n = base, 1
    while (root / candidate).exists() or (root / f"{candidate}.zip").exists():
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def compile_graph(run: Run, saver: BaseCheckpointSaver[str]) -> CompiledStateGraph[HomepageState]:
    return build_graph(run).compile(checkpointer=saver)
