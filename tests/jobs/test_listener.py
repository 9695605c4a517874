"""Progress across machines on a real PostgreSQL server: every change of a job row is announced with its id
(a trigger, so no writer forgets), an API replica's one listening connection wakes whoever follows that job
at once, and hears again after the server restarts (LISTEN itself dies silently with its connection)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from nanococoa_mcp.db.postgres import NOTIFY_CHANNEL
from nanococoa_mcp.jobs.listener import JobListener
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.locations import PostgresDatabase
from tests.jobs.backends import kinds
from tests.realservers import PostgresServer


@pytest.fixture
async def store(database: PostgresDatabase, data_dir: Path) -> AsyncIterator[JobStore]:
    async with await JobStore.open_postgres(database, data_dir, kinds(data_dir)) as s:
        yield s


@pytest.fixture
async def listener(database: PostgresDatabase) -> AsyncIterator[JobListener]:
    listener = JobListener(database, poll_s=5.0)
    await listener.start()
    assert listener.connected.is_set()
    yield listener
    await listener.close()


async def test_every_change_of_a_job_row_is_announced_with_its_id(store: JobStore, database: PostgresDatabase) -> None:
    conn = await psycopg.AsyncConnection.connect(database.conninfo.get_secret_value(), autocommit=True)
    async with conn:
        await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        job = await store.create("steps", {})
        await store.request_stop(job.job_id)
        heard = [n.payload async for n in conn.notifies(timeout=2.0, stop_after=2)]
    assert heard == [job.job_id, job.job_id]  # queued (with its entry: one transaction, one notice), stopped


async def test_a_follower_is_woken_by_a_change_long_before_its_poll(store: JobStore, listener: JobListener) -> None:
    job = await store.create("steps", {})
    waiting = asyncio.create_task(listener.wait(job.job_id))
    await asyncio.sleep(0.2)
    began = time.monotonic()
    await store.request_stop(job.job_id)
    assert await waiting and time.monotonic() - began < 1.0  # its poll would have taken 5 s
    other = await store.create("steps", {})
    assert not await listener.wait(job.job_id, timeout_s=0.5)  # another job's change wakes nobody here
    assert (await store.get(other.job_id)).status == "queued"


async def test_the_listener_hears_again_after_the_database_restarts(
    store: JobStore, listener: JobListener, postgres: PostgresServer
) -> None:
    job = await store.create("steps", {})
    await asyncio.to_thread(postgres.restart, "immediate")
    await asyncio.wait_for(listener.connected.wait(), 20)
    assert (await store.get(job.job_id)).status == "queued"  # the pool replaced the connections it broke
    waiting = asyncio.create_task(listener.wait(job.job_id))
    await asyncio.sleep(0.2)
    await store.request_stop(job.job_id)
    assert await waiting
