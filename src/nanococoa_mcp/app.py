"""The composition root, and the only module that wires packages together: settings → database → job
runtime (kinds: ad, cutout and analysis in the worker processes; homepage as a task in the server, reaching
the tools through an in-memory MCP client) → service → doors (MCP over stdio, the one-port HTTP app).

Two stacks, chosen by NANOCOCOA_DATABASE_URL: embedded (SQLite under the data dir, worker processes the server
spawns, files under the data dir) and distributed (PostgreSQL, `nanococoa worker` processes anywhere fed by
Procrastinate, running ads in their slots and homepages beside them with a job service of their own for the
homepage's tools; files in the blob store NANOCOCOA_BLOB_URL names)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Sequence

from fastmcp import FastMCP
from starlette.types import ASGIApp

from nanococoa_mcp.ad.backends.registry import check_settings
from nanococoa_mcp.ad.kind import ad_kinds
from nanococoa_mcp.blobs import FileBlobs, open_blobs
from nanococoa_mcp.db.access import PostgresAccess, SqlAccess, SqliteAccess
from nanococoa_mcp.db.connection import check_data_dir, connect_async
from nanococoa_mcp.db.upgrade import prepare_database
from nanococoa_mcp.homepage.files import SiteFiles
from nanococoa_mcp.homepage.kind import HomepageKind
from nanococoa_mcp.jobs.distributed import DistributedRuntime
from nanococoa_mcp.jobs.files import JobFiles
from nanococoa_mcp.jobs.kinds import JobKind, ServerKind, WorkerKind
from nanococoa_mcp.jobs.pool import WorkerPool
from nanococoa_mcp.jobs.quotas import Quotas
from nanococoa_mcp.jobs.remote import run_worker
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.keys import KeyBook
from nanococoa_mcp.locations import PostgresDatabase
from nanococoa_mcp.server.http import build_app
from nanococoa_mcp.server.mcp import build_server
from nanococoa_mcp.server.tool_caller import McpToolCaller
from nanococoa_mcp.service import Service, current_service, set_service
from nanococoa_mcp.settings import Settings, get_settings
from nanococoa_mcp.stores import StoreBook


def job_kinds(settings: Settings) -> tuple[Sequence[WorkerKind], Sequence[ServerKind]]:
    """Every kind the runtime runs: the worker kinds (made again in each worker by `ad_kinds`) and the
    server kinds."""
    return ad_kinds(settings), server_kinds(settings)


def server_kinds(settings: Settings) -> list[ServerKind]:
    """The homepage, its tools reached through the job service of its process, its files in the blob store on
    the distributed stack (the data directory otherwise)."""
    files = functools.partial(_site_files, settings) if isinstance(settings.database, PostgresDatabase) else None
    return [HomepageKind(settings, tools=functools.partial(McpToolCaller, settings), files=files)]


def _site_files(settings: Settings) -> SiteFiles:
    return SiteFiles(open_blobs(settings.blobs), settings.data_dir)


def all_kinds(settings: Settings) -> list[JobKind]:
    worker, server = job_kinds(settings)
    return [*worker, *server]


def tenant_quotas(settings: Settings) -> Quotas:
    return Quotas(
        max_queued=settings.tenant_max_queued_jobs,
        max_per_hour=settings.tenant_max_jobs_per_hour,
        max_stored_mb=settings.tenant_max_stored_mb,
    )


async def start_service(settings: Settings) -> Service:
    """Open the database, recover what a previous run left, start the runtime. Raises InvalidInput (a backend
    the registry does not list) or StorageError."""
    check_settings(settings)
    await asyncio.to_thread(prepare_database, settings)
    if isinstance(settings.database, PostgresDatabase):
        return await _start_distributed(settings, settings.database)
    worker, server = job_kinds(settings)
    store = await JobStore.open(settings.data_dir, [*worker, *server], workers=settings.workers,
                                quotas=tenant_quotas(settings))
    pool = WorkerPool(
        store,
        settings,
        ad_kinds,
        server_kinds=server,
        workers=settings.workers,
        max_queued=settings.max_queued_jobs,
        stop_grace_s=settings.stop_grace_sec,
    )
    try:
        await pool.start()  # recovers first: a homepage job cut short is queued again
    except BaseException:
        await store.close()
        raise
    files = JobFiles(FileBlobs(settings.data_dir, fsync=False, setting="data_dir"), steps_in_job=False)
    return Service(settings, store, pool, StoreBook(store), files)


async def _start_distributed(settings: Settings, database: PostgresDatabase, *, in_worker: bool = False) -> Service:
    """An API replica: the PostgreSQL store (uploads to the blob store, dispatch by Procrastinate), no job run
    here unless `worker_processes` asks for worker processes beside it. `in_worker`: a worker's own service (its
    homepages' tools queue and follow their ads through it), which leaves reaping to the worker."""
    blobs = open_blobs(settings.blobs)
    store = await JobStore.open_postgres(
        database, settings.data_dir, all_kinds(settings), workers=max(1, settings.worker_processes), blobs=blobs,
        quotas=tenant_quotas(settings),
    )
    runtime = DistributedRuntime(
        store,
        database,
        settings,
        _worker_process,
        max_queued=settings.max_queued_jobs,
        stop_grace_s=settings.stop_grace_sec,
        worker_processes=0 if in_worker else settings.worker_processes,
        reap=not in_worker,
    )
    try:
        await runtime.start()
    except BaseException:
        await store.close()
        raise
    return Service(settings, store, runtime, StoreBook(store), JobFiles(blobs, steps_in_job=True))


def worker(settings: Settings, *, concurrency: int = 1, kinds: Sequence[str] | None = None) -> None:
    """`nanococoa worker`: run the distributed stack's jobs of `kinds` (default all) here, `concurrency` ads at a
    time and homepages beside them, until SIGINT/SIGTERM. Raises InvalidInput (not PostgreSQL, an unknown kind),
    StorageError."""
    check_settings(settings)
    prepare_database(settings)
    run_worker(settings, ad_kinds, concurrency=concurrency, kinds=kinds, make_server_kinds=server_kinds,
               beside=functools.partial(_worker_service, settings))


def _worker_process(settings: Settings) -> None:
    """A worker process of `serve --workers N`: exactly `nanococoa worker --concurrency 1`."""
    worker(settings)


@contextlib.asynccontextmanager
async def _worker_service(settings: Settings) -> AsyncIterator[None]:
    """The job service of a worker that runs homepages: what their tools reach (get_service())."""
    database = settings.database
    assert isinstance(database, PostgresDatabase)
    service = await _start_distributed(settings, database, in_worker=True)
    set_service(service)
    try:
        yield
    finally:
        set_service(None)
        await service.close()


@contextlib.asynccontextmanager
async def service_running(settings: Settings | None = None) -> AsyncIterator[Service]:
    """Run the service for the enclosed lifetime; nested uses share the one already running."""
    running = current_service()
    if running is not None:
        yield running
        return
    service = await start_service(settings or get_settings())
    set_service(service)
    try:
        yield service
    finally:
        set_service(None)
        await service.close()


@contextlib.asynccontextmanager
async def job_store(settings: Settings) -> AsyncIterator[JobStore]:
    """The jobs as the service would report them, without running any (the CLI's local status and stop)."""
    await asyncio.to_thread(prepare_database, settings)
    database = settings.database
    if isinstance(database, PostgresDatabase):
        opened = await JobStore.open_postgres(database, settings.data_dir, all_kinds(settings),
                                              blobs=open_blobs(settings.blobs))
    else:
        opened = await JobStore.open(settings.data_dir, all_kinds(settings), workers=settings.workers)
    async with opened as store:
        yield store


@contextlib.asynccontextmanager
async def key_book(settings: Settings) -> AsyncIterator[KeyBook]:
    """The tenants' API keys in the configured database, migrated first (`nanococoa keys`). Raises StorageError
    or BackendUnavailable."""
    await asyncio.to_thread(prepare_database, settings)
    database = settings.database
    sql: SqlAccess
    if isinstance(database, PostgresDatabase):
        sql = await PostgresAccess.open(database, max_size=1)
    else:
        sql = SqliteAccess(await connect_async(settings.data_dir))
    try:
        yield KeyBook(sql)
    finally:
        await sql.close()


def mcp_server(settings: Settings | None = None) -> FastMCP:
    """The MCP server with the job service running for its lifetime."""
    return build_server(settings, functools.partial(service_running, settings))


def http_app(settings: Settings | None = None) -> ASGIApp:
    """The one-port HTTP app with the job service running for its lifetime. Raises InvalidInput (see build_app)."""
    return build_app(settings, functools.partial(service_running, settings))


def serve(settings: Settings | None = None) -> None:
    """`nanococoa serve`. Raises InvalidInput (an exposed bind without a token) or StorageError (the data
    directory), each as one clear line rather than a traceback from the lifespan."""
    import uvicorn

    settings = settings or get_settings()
    app = http_app(settings)
    if isinstance(settings.database, PostgresDatabase):
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # scratch and homepage checkpoints only
    else:
        check_data_dir(settings.data_dir)
    prepare_database(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", timeout_graceful_shutdown=15)


def run_stdio() -> None:
    """`nanococoa mcp`."""
    mcp_server().run(transport="stdio", show_banner=False)
