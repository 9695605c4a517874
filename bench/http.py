"""HTTP benchmark: `nanococoa serve` in a subprocess, measured over the wire. Latency (p50/p99) of
starting an ad and of reading its status over MCP (Streamable HTTP) and REST, status requests per
second under concurrency, and finished ads per minute with one worker. Prints a table.

    .venv/bin/python -m bench.http [--samples 100] [--ads 6] [--photo samples/dango.png]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from mcp import Client
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
COPY = "건어물 대박 세일"
WARMUP = 5
POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class Server:
    base: str
    data_dir: Path
    log_path: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(queue_limit: int, timeout_s: float = 60.0) -> Iterator[Server]:
    """`nanococoa serve` on a free loopback port with a fresh data directory and one worker; the whole
    process group (server, worker, its browser) is terminated on exit, killed if it lingers."""
    with tempfile.TemporaryDirectory(prefix="nanococoa-bench-") as tmp:
        port = _free_port()
        server = Server(f"http://127.0.0.1:{port}", Path(tmp) / "data", Path(tmp) / "server.log")
        # Inherited NANOCOCOA_* settings (a token, another data dir) would make runs incomparable.
        env = {k: v for k, v in os.environ.items() if not k.startswith("NANOCOCOA_")}
        env |= {
            "NANOCOCOA_DATA_DIR": str(server.data_dir),
            "NANOCOCOA_WORKERS": "1",
            "NANOCOCOA_MAX_QUEUED_JOBS": str(queue_limit),
        }
        cmd = [sys.executable, "-m", "nanococoa_mcp.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        with server.log_path.open("ab") as log:  # a file, not a pipe: the access log must never block
            proc = subprocess.Popen(
                cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            _wait_healthy(proc, server, timeout_s)
            yield server
        finally:
            _shut_down(proc)


def _wait_healthy(proc: subprocess.Popen[bytes], server: Server, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{_log_tail(server)}")
        try:
            if httpx.get(f"{server.base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /health in {timeout_s:.0f} s:\n{_log_tail(server)}")


def _shut_down(proc: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:  # whatever is left of the group (a browser the worker started)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _log_tail(server: Server) -> str:
    return server.log_path.read_text(errors="replace")[-3000:] if server.log_path.exists() else ""


# ---------------------------------------------------------------- measuring


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p99 of 100 samples is the 99th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


async def timed(call: Callable[[], Awaitable[object]], samples: int) -> list[float]:
    """Milliseconds of `samples` sequential calls, after WARMUP untimed ones."""
    for _ in range(WARMUP):
        await call()
    out = []
    for _ in range(samples):
        t = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _ok(res: httpx.Response) -> dict[str, Any]:
    if res.status_code not in (200, 202):
        raise RuntimeError(f"{res.request.method} {res.request.url.path} answered {res.status_code}: {res.text[:300]}")
    body: dict[str, Any] = res.json()
    return body


async def _tool(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    if result.is_error or result.structured_content is None:
        raise RuntimeError(f"{name} failed: {result.content}")
    content: dict[str, Any] = result.structured_content
    return content


async def wait_done(http: httpx.AsyncClient, job_ids: list[str], timeout_s: float = 900.0) -> None:
    """Poll until every job has ended. Raises if one did not complete."""
    pending = set(job_ids)
    deadline = time.monotonic() + timeout_s
    while pending:
        for job_id in list(pending):
            st = _ok(await http.get(f"/api/status/{job_id}"))
            if st["status"] == "completed":
                pending.discard(job_id)
            elif st["status"] in ("failed", "stopped"):
                raise RuntimeError(f"job {job_id} {st['status']}: {st['error']}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} jobs still unfinished after {timeout_s:.0f} s")
        await asyncio.sleep(POLL_S)


@dataclass(frozen=True, slots=True)
class Latency:
    name: str
    ms: list[float]
    target_ms: float


@dataclass(frozen=True, slots=True)
class Throughput:
    ads: int
    ads_per_min: float
    mean_ad_s: float
    status_rps: float


async def ads_per_minute(http: httpx.AsyncClient, n: int) -> tuple[str, float, float]:
    """One warm-up ad (the worker's browser starts), then `n` fish ads at 4:5 submitted at once.

    Returns the warm-up job's id (a completed job to read the status of), ads per minute from the
    first submit to the last completion, and the mean `elapsed_sec` per ad.
    """
    image = base64.b64encode((SAMPLES / "fish.png").read_bytes()).decode()

    async def submit(seed: int) -> str:
        body = {"product_image": image, "ad_text": COPY, "size": "4:5", "seed": seed}
        return str(_ok(await http.post("/api/generate", json=body))["job_id"])

    warm = await submit(0)
    await wait_done(http, [warm])
    t = time.perf_counter()
    ids = [await submit(seed) for seed in range(1, n + 1)]
    await wait_done(http, ids)
    total = time.perf_counter() - t
    elapsed = [float(_ok(await http.get(f"/status/{job_id}"))["elapsed_sec"]) for job_id in ids]
    return warm, n / total * 60, statistics.mean(elapsed)


async def status_rps(base: str, job_id: str, concurrency: int, seconds: float) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        await http.get(f"/status/{job_id}")
        done = 0
        start = time.perf_counter()
        deadline = start + seconds

        async def loop() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                _ok(await http.get(f"/status/{job_id}"))
                done += 1

        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return done / (time.perf_counter() - start)


async def bench(
    server: Server, photo: Path, samples: int, ads: int, concurrency: int, seconds: float, console: Console
) -> tuple[list[Latency], Throughput]:
    photo_b64 = base64.b64encode(photo.read_bytes()).decode()
    accepted: list[str] = []
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        console.print(f"ads/min: 1 warm-up + {ads} ads of fish.png at 4:5 …")
        done_job, per_min, mean_ad_s = await ads_per_minute(http, ads)
        # The worker is idle from here until the accept rows queue work.
        console.print(f"latency: {samples} sequential calls per row after {WARMUP} warm-up …")
        async with Client(f"{server.base}/mcp", mode="legacy") as mcp:
            mcp_status = await timed(lambda: _tool(mcp, "check_generation_status", {"job_id": done_job}), samples)

            async def rest_status_call() -> None:
                _ok(await http.get(f"/status/{done_job}"))

            rest_status = await timed(rest_status_call, samples)
            rps = await status_rps(server.base, done_job, concurrency, seconds)

            async def mcp_accept() -> None:
                args = {"copy": COPY, "product_image_path": str(photo), "size": "1:1", "wait": False}
                accepted.append(str((await _tool(mcp, "generate_ad_image", args))["job_id"]))

            async def rest_accept() -> None:
                body = {"product_image": photo_b64, "ad_text": COPY, "size": "1:1"}
                accepted.append(str(_ok(await http.post("/api/generate", json=body))["job_id"]))

            # From here the worker renders the first accepted ad while the rest queue behind it.
            mcp_gen = await timed(mcp_accept, samples)
            rest_gen = await timed(rest_accept, samples)
        for job_id in accepted:  # drain: the queued ones stop at once, the running one at a checkpoint
            _ok(await http.post(f"/stop/{job_id}"))
    rows = [
        Latency("accept generate_ad_image (MCP)", mcp_gen, 20),
        Latency("check_generation_status (MCP)", mcp_status, 100),
        Latency("POST /api/generate (REST)", rest_gen, 20),
        Latency("GET /status/{id} (REST)", rest_status, 100),
    ]
    return rows, Throughput(ads, per_min, mean_ad_s, rps)


def report(rows: list[Latency], tp: Throughput, concurrency: int, seconds: float, console: Console) -> None:
    table = Table(title="nanococoa serve over HTTP, one worker (milliseconds)")
    for col in ("request", "n", "p50", "p99", "target", "ok? (p99)"):
        table.add_column(col, justify="left" if col == "request" else "right")
    for row in rows:
        p50, p99 = percentile(row.ms, 50), percentile(row.ms, 99)
        table.add_row(
            row.name,
            str(len(row.ms)),
            f"{p50:.1f}",
            f"{p99:.1f}",
            f"≤ {row.target_ms:.0f}",
            "yes" if p99 <= row.target_ms else "NO",
        )
    console.print(table)
    console.print("status rows: a completed job, worker idle; accept rows: the worker renders, jobs queue")
    console.print(
        f"status requests/s: {tp.status_rps:.0f} (GET /status/{{id}}, {concurrency} concurrent, {seconds:.0f} s)"
    )
    console.print(
        f"finished ads/min: {tp.ads_per_min:.1f} ({tp.ads} × fish.png 4:5, one worker; "
        f"mean elapsed_sec per ad {tp.mean_ad_s:.2f} s)"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    console.print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
        f"load average {load} (client, server and worker share it)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=100, help="timed calls per latency row (at least 50)")
    parser.add_argument("--ads", type=int, default=6, help="ads timed for ads/min")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent status requests for requests/s")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long the requests/s run lasts")
    parser.add_argument(
        "--photo", type=Path, default=SAMPLES / "dango.png", help="product photo for the accept rows (256 px default)"
    )
    args = parser.parse_args()
    if args.samples < 50:
        parser.error(f"--samples {args.samples}: at least 50, or p99 means nothing")
    if args.ads < 1 or args.concurrency < 1 or args.seconds <= 0:
        parser.error("--ads and --concurrency must be at least 1, --seconds above 0")
    if not args.photo.is_file():
        parser.error(f"--photo {args.photo}: no such file")
    console = Console(width=120)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # like Ctrl-C: the server is stopped on the way out
    with serving(queue_limit=2 * (args.samples + WARMUP) + 10) as server:
        rows, tp = asyncio.run(
            bench(server, args.photo.resolve(), args.samples, args.ads, args.concurrency, args.seconds, console)
        )
    report(rows, tp, args.concurrency, args.seconds, console)


if __name__ == "__main__":
    main()
