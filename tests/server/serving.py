"""`nanococoa serve` in a subprocess on a free loopback port, for tests that drive the HTTP door."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
# One client for the test process's plain calls to loopback servers: httpx.get() and friends build a new client,
# and with it a TLS context (~20 ms of CPU), on every call, and the tests poll servers thousands of times.
LOOPBACK = httpx.Client()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """Start with `start()` (waits for /health), stop with `stop()` (SIGTERM, then kill) or `kill()`.

    The log goes to a file, not a pipe: uvicorn's access log must never block the server.
    """

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "NANOCOCOA_DATA_DIR": str(data_dir), **(env or {})}
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0, expect_status: int = 200) -> ServerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nanococoa_mcp.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited ({self.proc.returncode}):\n{self.log()}")
            try:
                if LOOPBACK.get(f"{self.base}/health", timeout=2).status_code == expect_status:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the server did not answer /health in {timeout_s:.0f} s:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the server and its workers (the whole process group), as a crash or a power cut would."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_done(client: httpx.Client, job_id: str, timeout_s: float = 90.0) -> dict[str, Any]:
    """Poll GET /status/{id} until the job ends; its last status."""
    deadline = time.monotonic() + timeout_s
    while True:
        st: dict[str, Any] = client.get(f"/status/{job_id}").json()
        if st["status"] in ("completed", "failed", "stopped"):
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is still {st['status']} after {timeout_s:.0f} s: {st}")
        time.sleep(0.1)
