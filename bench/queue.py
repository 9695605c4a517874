"""Queue benchmark: the job runtime itself, embedded (SQLite + the server's worker processes) against
distributed (PostgreSQL + Procrastinate + `nanococoa worker` processes + S3), on a cheap job (the cut-out of a
256 px photo) so the queue is what is measured. Starts its own PostgreSQL and SeaweedFS on loopback (the test
servers of tests/realservers.py: `bash scripts/setup_services.sh` installs them) and prints one table:

- submit → start: from the job's row being written to a worker claiming it, jobs sent one at a time to an idle
  worker (p50, p95);
- queue overhead: what a job costs beyond its own run (the kind's measured stage time): queueing, claiming,
  fetching its photo, recording progress, storing its files, the follower learning it ended (p50);
- throughput: jobs per minute with 1 and 2 workers, `--burst` jobs queued at once.

    .venv/bin/python -m bench.queue [--samples 20] [--burst 24] [--photo samples/dango.png]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/realservers.py: the loopback PostgreSQL and S3 the tests use

from nanococoa_mcp.ad.images import decode_image  # noqa: E402
from nanococoa_mcp.ad.kind import input_file  # noqa: E402
from nanococoa_mcp.app import service_running  # noqa: E402
from nanococoa_mcp.jobs.models import InputFile  # noqa: E402
from nanococoa_mcp.service import Service  # noqa: E402
from nanococoa_mcp.settings import Settings  # noqa: E402
from tests.realservers import PostgresServer, S3Server  # noqa: E402


@dataclass(frozen=True, slots=True)
class Row:
    stack: str
    workers: int
    start_ms: list[float]
    overhead_ms: list[float]
    jobs_per_min: float


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


async def _times(service: Service, job_id: str) -> tuple[float, float, float]:
    """created, started, finished (the rows' clocks) of a job."""
    found = await service.store.sql.fetchall(
        "SELECT created_at, started_at, finished_at FROM jobs WHERE id = ?", (job_id,)
    )
    row = found[0]
    return float(row["created_at"]), float(row["started_at"]), float(row["finished_at"])


async def _run_seconds(service: Service, job_id: str) -> float:
    found = await service.store.sql.fetchall("SELECT SUM(seconds) AS s FROM stage_times WHERE job_id = ?", (job_id,))
    return float(found[0]["s"] or 0.0)


async def _one_by_one(service: Service, photo: InputFile, samples: int) -> tuple[list[float], list[float]]:
    """Each job alone on idle workers: its submit → start, and its overhead beyond its run."""
    start_ms, overhead_ms = [], []
    for i in range(samples + 2):  # the first two warm the worker up and are not counted
        began = time.perf_counter()
        status = await service.submit("cutout", {}, input_file=photo)
        done = await service.wait(status.job_id, 120)
        total = time.perf_counter() - began
        if done.status != "completed":
            raise RuntimeError(f"job {done.job_id} ended {done.status}: {done.error}")
        if i < 2:
            continue
        created, started, _ = await _times(service, status.job_id)
        start_ms.append((started - created) * 1000)
        overhead_ms.append((total - await _run_seconds(service, status.job_id)) * 1000)
        await asyncio.sleep(0.05)
    return start_ms, overhead_ms


async def _burst(service: Service, photo: InputFile, jobs: int) -> float:
    """`jobs` queued at once: jobs per minute from the first submit to the last end."""
    began = time.perf_counter()
    queued = [await service.submit("cutout", {}, input_file=photo) for _ in range(jobs)]
    ends = await asyncio.gather(*(service.wait(q.job_id, 600) for q in queued))
    elapsed = time.perf_counter() - began
    failed = [e for e in ends if e.status != "completed"]
    if failed:
        raise RuntimeError(f"{len(failed)} jobs did not complete: {failed[0].error}")
    return 60.0 * jobs / elapsed


@contextlib.asynccontextmanager
async def _running(settings: Settings, distributed: bool) -> AsyncIterator[Service]:
    async with service_running(settings) as service:
        if distributed:  # the spawned workers announce themselves by heartbeat
            runtime = service.pool
            deadline = time.monotonic() + 60
            while runtime.alive_workers() < runtime.workers:
                if time.monotonic() > deadline:
                    raise RuntimeError("the worker processes did not start")
                await asyncio.sleep(0.2)
        yield service


async def measure(settings: Settings, stack: str, workers: int, photo: InputFile, samples: int, burst: int,
                  console: Console) -> Row:
    distributed = stack == "postgresql"
    fields = {"worker_processes": workers} if distributed else {"workers": workers}
    async with _running(settings.model_copy(update=fields), distributed) as service:
        start_ms: list[float] = []
        overhead_ms: list[float] = []
        if workers == 1:
            console.print(f"[dim]{stack}, 1 worker: {samples} one by one …[/]")
            start_ms, overhead_ms = await _one_by_one(service, photo, samples)
        console.print(f"[dim]{stack}, {workers} worker(s): {burst} at once …[/]")
        await _burst(service, photo, 2 * workers)  # every worker warm (its browser started) before the clock runs
        per_min = await _burst(service, photo, burst)
    return Row(stack, workers, start_ms, overhead_ms, per_min)


@contextlib.contextmanager
def _environment(tmp: Path) -> Iterator[tuple[Settings, Settings]]:
    """Settings of the two stacks: a data dir for SQLite; PostgreSQL and an S3 bucket on loopback."""
    with PostgresServer() as pg, S3Server() as s3:
        database = pg.create_database("bench_queue")
        s3.create_bucket("bench-queue")
        os.environ.update(s3.env())  # the standard AWS_* keys, read by the settings (and the worker processes)
        embedded = Settings(data_dir=tmp / "embedded", max_queued_jobs=1000)
        distributed = Settings(data_dir=tmp / "distributed", database_url=database, blob_url=s3.blob_url("bench-queue"),
                               max_queued_jobs=1000, heartbeat_sec=1.0)
        yield embedded, distributed


async def bench(photo_path: Path, samples: int, burst: int, console: Console) -> list[Row]:
    data = photo_path.read_bytes()
    photo = input_file(decode_image(data, max_bytes=len(data)))
    rows = []
    with tempfile.TemporaryDirectory(prefix="nanococoa-bench-queue-") as tmp:
        with _environment(Path(tmp)) as (embedded, distributed):
            for stack, settings in (("sqlite", embedded), ("postgresql", distributed)):
                for workers in (1, 2):
                    rows.append(await measure(settings, stack, workers, photo, samples, burst, console))
    return rows


def report(rows: list[Row], samples: int, burst: int, photo: Path, console: Console) -> None:
    table = Table(title=f"Job queue: cut-outs of {photo.name}, {samples} one by one, {burst} at once")
    for column in ("stack", "workers", "submit→start p50", "p95", "queue overhead p50", "jobs/min"):
        table.add_column(column, justify="left" if column == "stack" else "right")
    for row in rows:
        timed = bool(row.start_ms)
        table.add_row(
            row.stack,
            str(row.workers),
            f"{statistics.median(row.start_ms):.0f} ms" if timed else "",
            f"{percentile(row.start_ms, 95):.0f} ms" if timed else "",
            f"{statistics.median(row.overhead_ms):.0f} ms" if timed else "",
            f"{row.jobs_per_min:.0f}",
        )
    console.print(table)
    console.print(f"[dim]{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}[/]")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.queue", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=20, help="jobs timed one by one per stack (at least 10)")
    parser.add_argument("--burst", type=int, default=24, help="jobs queued at once for jobs/min")
    parser.add_argument("--photo", type=Path, default=ROOT / "samples" / "dango.png", help="the photo cut out")
    args = parser.parse_args()
    if args.samples < 10 or args.burst < 1:
        parser.error("--samples at least 10 (or p95 means nothing), --burst at least 1")
    if not args.photo.is_file():
        parser.error(f"--photo {args.photo}: no such file")
    logging.basicConfig(level=logging.WARNING)
    console = Console(width=120)
    rows = asyncio.run(bench(args.photo.resolve(), args.samples, args.burst, console))
    report(rows, args.samples, args.burst, args.photo, console)


if __name__ == "__main__":
    main()
