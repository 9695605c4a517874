"""An API replica's ear on the distributed stack: one dedicated PostgreSQL connection LISTENing on the channel
every change of a job row is announced on (its id only), waking whoever follows that job (a waiting tool call,
an SSE stream, MCP progress), who then reads the row.

A notification can be missed (LISTEN ends silently with the connection when the server restarts, and nothing
is replayed), so a follower never waits longer than `poll_s` before reading the row anyway, and the listener
reconnects with a growing pause while the server is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nanococoa_mcp.db.postgres import NOTIFY_CHANNEL
from nanococoa_mcp.locations import PostgresDatabase

log = logging.getLogger(__name__)

POLL_S = 1.0  # a follower reads the row at least this often, notified or not
HEALTH_S = 5.0  # with no notification for this long, the connection is checked
BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class JobListener:
    def __init__(self, database: PostgresDatabase, poll_s: float = POLL_S) -> None:
        self.database = database
        self.poll_s = poll_s
        self.connected = asyncio.Event()
        self.notifications = 0
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout_s: float = 5.0) -> None:
        """Start listening (waiting up to `timeout_s` for the first connection; followers poll meanwhile)."""
        self._task = asyncio.create_task(self._listen(), name="nanococoa-job-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), timeout_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait(self, job_id: str, timeout_s: float | None = None) -> bool:
        """Until the job's row changes, or `timeout_s` (at most `poll_s`) passes; whether a change was heard."""
        event = asyncio.Event()
        self._waiters.setdefault(job_id, set()).add(event)
        try:
            limit = self.poll_s if timeout_s is None else min(timeout_s, self.poll_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), limit)
            return event.is_set()
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[job_id]

    def _wake(self, job_id: str) -> None:
        for event in self._waiters.get(job_id, ()):
            event.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    async def _listen(self) -> None:
        import psycopg

        failures = 0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.database.conninfo.get_secret_value(), autocommit=True, connect_timeout=5
                )
                async with conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    failures = 0
                    self.connected.set()
                    self._wake_all()  # whatever changed while nobody listened
                    while True:
                        async for note in conn.notifies(timeout=HEALTH_S):
                            self.notifications += 1
                            self._wake(note.payload)
                        await conn.execute("SELECT 1")  # a dead connection raises here
            except psycopg.Error as exc:
                delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
                failures += 1
                if self.connected.is_set() or failures == 1:
                    log.warning("job listener lost %s (%s); reconnecting in %.1f s", self.database,
                                self.database.scrub(str(exc).strip().splitlines()[0] if str(exc) else ""), delay)
                self.connected.clear()
                self._wake_all()
                await asyncio.sleep(delay)
