"""The real-server fixtures themselves: PostgreSQL via psycopg, SeaweedFS S3 via obstore."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import realservers
from tests.realservers import PostgresServer, S3Server, ServiceMissing
from tests.realservers_fixtures import PgDatabase, S3Bucket

try:
    import obstore
    import psycopg
    from obstore.store import S3Store
except ImportError as err:  # a failure, not a skip
    raise ImportError(f"{err}: install the test servers' clients with: {realservers.INSTALL_HINT}") from err

_seen_databases: set[str] = set()
_seen_buckets: set[str] = set()


def _store(bucket: S3Bucket) -> S3Store:
    return S3Store(bucket.name, endpoint=bucket.endpoint, region=bucket.region, access_key_id=bucket.access_key,
                   secret_access_key=bucket.secret_key, virtual_hosted_style_request=False,
                   client_options={"allow_http": True})


# ---------------------------------------------------------------------------------------------- PostgreSQL


def test_postgres_answers_a_query(postgres_db: PgDatabase) -> None:
    with postgres_db.connect() as conn:
        version = conn.execute("SHOW server_version").fetchone()
        fsync = conn.execute("SHOW fsync").fetchone()
        database = conn.execute("SELECT current_database(), current_user").fetchone()
    assert version is not None and int(version[0].split(".")[0]) >= 15  # Debian 12's, or newer
    assert fsync == ("off",)
    assert database == (postgres_db.name, "app")
    assert postgres_db.url == f"postgresql://app@127.0.0.1:{postgres_db.server.port}/{postgres_db.name}"


@pytest.mark.parametrize("which", ["first", "second"])
def test_each_test_gets_its_own_database(postgres_db: PgDatabase, which: str) -> None:
    assert postgres_db.name not in _seen_databases
    _seen_databases.add(postgres_db.name)
    with postgres_db.connect() as conn:
        assert conn.execute("SELECT to_regclass('jobs')").fetchone() == (None,)  # the other test's table is not here
        conn.execute("CREATE TABLE jobs (id text PRIMARY KEY)")
        conn.execute("INSERT INTO jobs VALUES (%s)", (which,))
        assert conn.execute("SELECT id FROM jobs").fetchall() == [(which,)]


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_restart_keeps_data_and_breaks_old_connections(postgres_db: PgDatabase, mode: str) -> None:
    old = postgres_db.connect(autocommit=True)
    old.execute("CREATE TABLE jobs (id int PRIMARY KEY, state text)")
    old.execute("INSERT INTO jobs VALUES (1, 'running')")
    port = postgres_db.server.port
    pid = postgres_db.server.pid

    postgres_db.server.restart(mode=mode)

    assert postgres_db.server.port == port and postgres_db.server.pid not in (None, pid)
    with pytest.raises(psycopg.OperationalError):
        old.execute("SELECT 1")
    assert old.closed or old.broken
    old.close()
    with postgres_db.connect() as new:
        assert new.execute("SELECT id, state FROM jobs").fetchall() == [(1, "running")]


def test_a_restart_from_a_thread_that_ends_leaves_the_server_running(postgres_db: PgDatabase) -> None:
    """The parent-death signal follows the thread that forked; chaos tests restart from asyncio.to_thread."""
    native: list[int] = []

    def restart() -> None:
        native.append(threading.get_native_id())
        postgres_db.server.restart()

    thread = threading.Thread(target=restart)
    thread.start()
    thread.join()
    deadline = time.monotonic() + 10
    while Path(f"/proc/self/task/{native[0]}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    assert postgres_db.server.running
    with postgres_db.connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_databases_cloned_from_a_template(postgres: PostgresServer) -> None:
    calls: list[str] = []

    def migrate(url: str) -> None:
        calls.append(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE schema_version (version int)")
            conn.execute("INSERT INTO schema_version VALUES (7)")

    template = postgres.ensure_template("tmpl_migrated", migrate)
    assert postgres.ensure_template("tmpl_migrated", migrate) == template and len(calls) == 1
    url = postgres.create_database(template=template)
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT version FROM schema_version").fetchall() == [(7,)]
    finally:
        postgres.drop_database(url.rsplit("/", 1)[1])


def test_a_server_of_its_own_stops_by_pid_and_leaves_nothing() -> None:
    with PostgresServer() as server:
        pid, directory = server.pid, server.dir
        assert pid is not None and server.execute("SELECT 1") == [(1,)]
        assert server.start_seconds is not None and server.start_seconds < 30
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert not directory.exists()


def test_missing_binaries_name_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NANOCOCOA_PG_BINDIR", raising=False)
    monkeypatch.delenv("NANOCOCOA_WEED", raising=False)
    monkeypatch.setattr(realservers.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(realservers.shutil, "which", lambda name: None)
    monkeypatch.setattr(realservers.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(ServiceMissing, match=r"scripts/setup_services\.sh"):
        PostgresServer()
    with pytest.raises(ServiceMissing, match=r"scripts/setup_services\.sh"):
        S3Server()


# ---------------------------------------------------------------------------------------------- S3


def test_s3_put_get_list_delete(s3_bucket: S3Bucket) -> None:
    store = _store(s3_bucket)
    obstore.put(store, "jobs/j1/result.png", b"\x89PNG result")
    obstore.put(store, "jobs/j1/step-1.bin", b"checkpoint")
    obstore.put(store, "uploads/u1.jpg", b"jpeg")

    assert bytes(obstore.get(store, "jobs/j1/result.png").bytes()) == b"\x89PNG result"
    listed = sorted(meta["path"] for batch in obstore.list(store, prefix="jobs/j1") for meta in batch)
    assert listed == ["jobs/j1/result.png", "jobs/j1/step-1.bin"]
    assert obstore.head(store, "uploads/u1.jpg")["size"] == 4

    obstore.delete(store, "jobs/j1/result.png")
    with pytest.raises(FileNotFoundError):
        obstore.get(store, "jobs/j1/result.png")
    assert [meta["path"] for batch in obstore.list(store) for meta in batch] == ["jobs/j1/step-1.bin", "uploads/u1.jpg"]


def test_s3_presigned_get_over_plain_http(s3_bucket: S3Bucket) -> None:
    store = _store(s3_bucket)
    obstore.put(store, "jobs/j2/result.png", b"image bytes")
    url = obstore.sign(store, "GET", "jobs/j2/result.png", dt.timedelta(minutes=5))
    assert url.startswith(f"{s3_bucket.endpoint}/{s3_bucket.name}/jobs/j2/result.png?X-Amz-")

    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200 and resp.read() == b"image bytes"
    for refused in (url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), url.split("?")[0]):
        with pytest.raises(urllib.error.HTTPError) as err:  # a bad signature, or none: the keys are checked
            urllib.request.urlopen(refused, timeout=10)
        err.value.close()
        assert err.value.code == 403


@pytest.mark.parametrize("which", ["first", "second"])
def test_each_test_gets_its_own_bucket(s3_bucket: S3Bucket, which: str) -> None:
    assert s3_bucket.name not in _seen_buckets
    _seen_buckets.add(s3_bucket.name)
    store = _store(s3_bucket)
    assert list(obstore.list(store)) == []  # the other test's object is not here
    obstore.put(store, "marker", which.encode())
    assert s3_bucket.url == f"s3://{s3_bucket.name}?endpoint={s3_bucket.endpoint}&region=us-east-1"


def test_s3_client_from_the_standard_environment(s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in s3_bucket.env().items():
        monkeypatch.setenv(key, value)
    store = S3Store.from_url(f"s3://{s3_bucket.name}", client_options={"allow_http": True})
    obstore.put(store, "from-env", b"ok")
    assert bytes(obstore.get(_store(s3_bucket), "from-env").bytes()) == b"ok"
    assert os.environ["AWS_ENDPOINT_URL"] == s3_bucket.endpoint
