"""Dispatch through Procrastinate on a real PostgreSQL server: a queued job and its queue entry commit together
or not at all, in the lane's queue; a stop withdraws the entry."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from nanococoa_mcp.jobs.models import InputFile, QueueFull
from nanococoa_mcp.jobs.queue import TASK
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.locations import PostgresDatabase
from nanococoa_mcp.storage import StorageError
from tests.jobs.backends import kinds

PHOTO = InputFile(data=b"the input", suffix=".txt")


@pytest.fixture
async def store(database: PostgresDatabase, data_dir: Path) -> AsyncIterator[JobStore]:
    async with await JobStore.open_postgres(database, data_dir, kinds(data_dir)) as s:
        yield s


def _query(database: PostgresDatabase, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database.conninfo.get_secret_value(), autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


async def test_a_queued_job_gets_its_queue_entry_in_its_kinds_queue_a_server_kind_too(
    store: JobStore, database: PostgresDatabase
) -> None:
    ad = await store.create("steps", {}, input_file=PHOTO)
    relay = await store.create("relay", {})
    entries = _query(database, """SELECT j.id, q.id, q.task_name, q.queue_name, q.args::text, q.status
                                  FROM jobs j JOIN procrastinate_jobs q ON q.id = j.task_id ORDER BY j.seq""")
    # one queue per kind, so a worker may take only some kinds; a server kind (a homepage) is a worker's too,
    # run beside its slots
    assert [(r[0], r[2], r[3], json.loads(r[4]), r[5]) for r in entries] == [
        (ad.job_id, TASK, "steps", {"job_id": ad.job_id}, "todo"),
        (relay.job_id, TASK, "relay", {"job_id": relay.job_id}, "todo"),
    ]
    assert _query(database, f"SELECT input_path FROM jobs WHERE id = '{relay.job_id}'") == [(None,)]
    assert _query(database, f"SELECT input_path FROM jobs WHERE id = '{ad.job_id}'") == [(f"uploads/{ad.job_id}.txt",)]


async def test_a_refused_job_leaves_no_queue_entry(store: JobStore, database: PostgresDatabase) -> None:
    await store.create("steps", {}, max_queued=1)
    with pytest.raises(QueueFull):
        await store.create("steps", {}, input_file=PHOTO, max_queued=1)
    assert _query(database, "SELECT COUNT(*) FROM procrastinate_jobs") == [(1,)]


async def test_when_dispatch_fails_no_row_no_upload_and_a_storage_error(
    store: JobStore, database: PostgresDatabase, data_dir: Path
) -> None:
    _query(database, "ALTER TABLE procrastinate_jobs ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
    with pytest.raises(StorageError) as info:
        await store.create("steps", {}, input_file=PHOTO)
    assert info.value.field == "database_url" and "refuse_all" in info.value.message
    assert _query(database, "SELECT COUNT(*) FROM jobs") == [(0,)]
    assert list((data_dir / "uploads").iterdir()) == []


async def test_stopping_a_queued_job_withdraws_its_queue_entry(store: JobStore, database: PostgresDatabase) -> None:
    job = await store.create("steps", {})
    kept = await store.create("steps", {})
    assert (await store.request_stop(job.job_id)).status == "stopped"
    statuses = _query(database, "SELECT j.id, q.status FROM jobs j JOIN procrastinate_jobs q ON q.id = j.task_id")
    assert dict(statuses) == {job.job_id: "cancelled", kept.job_id: "todo"}
