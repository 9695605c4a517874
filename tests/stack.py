"""The distributed stack for tests: as separate processes (`nanococoa serve` replicas and `nanococoa worker`s on
one PostgreSQL database and one S3 bucket of tests/realservers.py, each process's output in a log file under
the stack's directory, each stopped by its own pid: SIGTERM, or SIGKILL to play a crash; `deployed()` starts
one on a fresh database and bucket), or as the settings of an in-process service on a fresh database and
bucket."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from nanococoa_mcp.app import service_running
from nanococoa_mcp.locations import PostgresDatabase
from nanococoa_mcp.service import Service
from nanococoa_mcp.settings import Settings
from tests.jobs.backends import database_name, fresh_migrated_database
from tests.realservers import PostgresServer, S3Server, free_port
from tests.server.serving import LOOPBACK

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Stack:
    """Processes of one distributed stack. `env` holds its URLs, keys and timings (NANOCOCOA_*, AWS_*)."""

    base: Path
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)

    def _start(self, name: str, argv: list[str], port: int | None = None) -> Proc:
        data_dir = self.base / name
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "NANOCOCOA_DATA_DIR": str(data_dir),
               "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
        log = self.base / f"{name}.{sum(p.name == name for p in self.procs) + 1}.log"  # one per start
        with log.open("ab") as out:
            popen = subprocess.Popen([sys.executable, "-m", "nanococoa_mcp.cli", *argv], env=env, stdout=out,
                                     stderr=subprocess.STDOUT, cwd=data_dir)
        proc = Proc(name, popen, log, port)
        self.procs.append(proc)
        return proc

    def worker(self, name: str, *args: str) -> Proc:
        return self._start(name, ["worker", *args])

    def serve(self, name: str, *args: str, timeout: float = 60.0) -> Proc:
        """A replica on a free loopback port, once it answers /health."""
        proc = self.start_serving(name, *args)
        self.wait_health(proc, timeout)
        return proc

    def start_serving(self, name: str, *args: str) -> Proc:
        """A replica on a free loopback port, started (`wait_health` waits until it answers)."""
        port = free_port()
        return self._start(name, ["serve", "--port", str(port), *args], port)

    def wait_health(self, proc: Proc, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                LOOPBACK.get(f"{proc.url}/health", timeout=2.0)
                return
            except httpx.HTTPError:
                if not proc.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"{proc.name} did not start:\n{proc.tail()}") from None
                time.sleep(0.2)

    def wait_log(self, proc: Proc, text: str, timeout: float = 60.0) -> None:
        """Until `text` appears in the process's log (a worker says `worker ready`)."""
        deadline = time.monotonic() + timeout
        while text not in proc.log.read_text(errors="replace"):
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name} never said {text!r}:\n{proc.tail()}")
            time.sleep(0.1)

    def stop(self, proc: Proc, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the process by its pid and reap it (SIGKILL after `timeout`); its exit code."""
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
        try:
            return proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            return proc.popen.wait(10)

    def close(self) -> None:
        """SIGTERM to every process first, then reap each (SIGKILL after 15 s): they shut down side by side."""
        alive = [proc for proc in self.procs if proc.alive()]
        for proc in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        for proc in alive:  # a second SIGTERM would tell a worker to exit at once: wait, then SIGKILL
            try:
                proc.popen.wait(15.0)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(10)
        self.procs = []


def stack_env(database_url: str, s3_env: dict[str, str], blob_url: str, **extra: Any) -> dict[str, str]:
    """The variables every process of a stack shares; short heartbeats so a dead worker is noticed quickly."""
    env = {**s3_env, "NANOCOCOA_DATABASE_URL": database_url, "NANOCOCOA_BLOB_URL": blob_url,
           "NANOCOCOA_HEARTBEAT_SEC": "0.5", "NANOCOCOA_STALLED_AFTER_SEC": "3", "NANOCOCOA_STOP_GRACE_SEC": "10"}
    env.update({f"NANOCOCOA_{k.upper()}": str(v) for k, v in extra.items()})
    return env


_buckets = itertools.count(1)


@contextlib.contextmanager
def distributed_settings(
    postgres: PostgresServer, s3: S3Server, data_dir: Path, *, presign: bool = False, **fields: Any
) -> Iterator[Settings]:
    """Settings of an in-process service on the distributed stack: a fresh migrated database and a fresh bucket
    (dropped afterwards; presigned downloads with `presign`), S3 keys from the standard AWS_* variables, short
    heartbeats; `fields` on top."""
    database = fresh_migrated_database(postgres)
    bucket = s3.create_bucket(f"distributed-{os.getpid()}-{next(_buckets)}")
    with pytest.MonkeyPatch.context() as env:
        for key, value in s3.env().items():
            env.setenv(key, value)
        settings = Settings(**{
            "data_dir": data_dir, "database_url": database, "heartbeat_sec": 0.5,
            "blob_url": s3.blob_url(bucket) + ("&presign=1" if presign else ""),
            "stalled_after_sec": 3.0, **fields,
        })
    try:
        yield settings
    finally:
        s3.delete_bucket(bucket)
        postgres.drop_database(database_name(database))


@contextlib.contextmanager
def worker_beside(settings: Settings, s3: S3Server, base: Path, *args: str) -> Iterator[Proc]:
    """A `nanococoa worker` process (`args`: its options) on an in-process service's database and bucket, ready;
    stopped afterwards."""
    database = settings.database
    assert isinstance(database, PostgresDatabase) and settings.blob_url is not None
    stack = Stack(base, stack_env(database.conninfo.get_secret_value(), s3.env(), str(settings.blob_url)))
    try:
        proc = stack.worker("worker", *args)
        stack.wait_log(proc, "worker ready")
        yield proc
    finally:
        stack.close()


class Deployment:
    """A stack's processes by role, and its jobs' rows read straight from the database."""

    def __init__(self, stack: Stack, database: PostgresDatabase) -> None:
        self.stack = stack
        self.database = database
        self.workers: list[Proc] = []
        self.replicas: list[Proc] = []

    def start_worker(self, name: str) -> Proc:
        proc = self.stack.worker(name)
        self.stack.wait_log(proc, "worker ready")
        self.workers = [w for w in self.workers if w.name != name] + [proc]
        return proc

    def sql(self, query: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database.conninfo.get_secret_value(), autocommit=True) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def row(self, job_id: str) -> dict[str, Any]:
        found = self.sql("SELECT status, attempt, worker_pid, steps_done::text FROM jobs WHERE id = %s", (job_id,))
        status, attempt, pid, done = found[0] if found else (None, None, None, "[]")
        return {"status": status, "attempt": attempt, "worker_pid": pid, "steps_done": json.loads(done)}


@contextlib.contextmanager
def deployed(
    postgres: PostgresServer, s3: S3Server, base: Path, *, workers: int = 2, replicas: int = 2, **extra: Any
) -> Iterator[Deployment]:
    """A stack on a fresh database and bucket (`extra`: settings on top of stack_env's), with `workers` workers
    (worker-1, …) ready and `replicas` replicas (replica-a, …) answering; all stopped and dropped afterwards."""
    database = fresh_migrated_database(postgres)
    bucket = s3.create_bucket(f"stack-{os.getpid()}-{next(_buckets)}")
    env = stack_env(str(database.conninfo.get_secret_value()), s3.env(), s3.blob_url(bucket), **extra)
    deployment = Deployment(Stack(base, env), database)
    try:
        # Every process starts at once (their imports and browsers overlap), then each is waited for.
        started = [deployment.stack.worker(f"worker-{n}") for n in range(1, workers + 1)]
        serving = [deployment.stack.start_serving(f"replica-{'abcdefgh'[n]}") for n in range(replicas)]
        for proc in started:
            deployment.stack.wait_log(proc, "worker ready")
        for proc in serving:
            deployment.stack.wait_health(proc)
        deployment.workers, deployment.replicas = started, serving
        yield deployment
    finally:
        deployment.stack.close()
        if postgres.running:
            postgres.drop_database(database_name(database))
        s3.delete_bucket(bucket)
@contextlib.asynccontextmanager
async def distributed_service(
    postgres: PostgresServer, s3: S3Server, data_dir: Path, **fields: Any
) -> AsyncIterator[Service]:
    """An in-process service on the distributed stack (distributed_settings' database and bucket)."""
    with distributed_settings(postgres, s3, data_dir, **fields) as settings:
        async with service_running(settings) as service:
            yield service
