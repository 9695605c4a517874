"""Procrastinate's worker as `nanococoa worker` runs it: made to outlive a database restart (its heartbeat, its
listener and its queue polls retry instead of stopping the worker), and one process's lanes (the ad slots, the
homepages beside them) registered as one Procrastinate worker."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)  # between attempts to reach the database again


class OneRegistration:
    """The Procrastinate app as this process's lanes see it: they register as one Procrastinate worker (one id,
    heartbeats from each, unregistered when the last lane stops), so replicas count worker processes, not lanes,
    and an entry of either lane is judged by the process's heartbeat."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self.job_manager = _SharedId(app.job_manager)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


class _SharedId:
    def __init__(self, manager: Any) -> None:
        self._manager = manager
        self._id: asyncio.Future[int] | None = None
        self._lanes = 0

    async def register_worker(self) -> int:
        self._lanes += 1
        if self._id is None:
            self._id = asyncio.ensure_future(self._manager.register_worker())
        return int(await asyncio.shield(self._id))

    async def unregister_worker(self, worker_id: int) -> None:
        self._lanes -= 1
        if self._lanes == 0:
            self._id = None
            await self._manager.unregister_worker(worker_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)


def resilient_worker_class() -> Any:
    """Procrastinate's Worker, made to outlive a database restart: its side tasks and its queue polls retry
    instead of stopping the worker."""
    from procrastinate.exceptions import ProcrastinateException
    from procrastinate.worker import Worker

    class ResilientWorker(Worker):
        async def _update_heartbeat(self) -> None:
            while True:
                await asyncio.sleep(self.update_heartbeat_interval)
                try:
                    assert self.worker_id is not None
                    await self.app.job_manager.update_heartbeat(self.worker_id)
                except ProcrastinateException as exc:
                    log.warning("heartbeat not recorded (%s)", exc.__cause__ or exc)

        async def _listen(self) -> None:
            failures = 0
            while True:
                try:
                    await self.app.job_manager.listen_for_jobs(
                        on_notification=self._handle_notification, queues=self.queues
                    )
                except ProcrastinateException as exc:
                    delay = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
                    failures += 1
                    log.warning("queue listener lost the database (%s); again in %.1f s", exc.__cause__ or exc, delay)
                    await asyncio.sleep(delay)

        def _start_side_tasks(self) -> list[asyncio.Task[Any]]:
            return [
                asyncio.create_task(self._update_heartbeat(), name="update_heartbeats"),
                asyncio.create_task(self._poll_jobs_to_abort(), name="poll_jobs_to_abort"),
                asyncio.create_task(self._listen(), name="listener"),
            ]

        async def _fetch_and_process_jobs(self) -> None:
            try:
                await super()._fetch_and_process_jobs()
            except ProcrastinateException as exc:
                log.warning("queue not read (%s)", exc.__cause__ or exc)

    return ResilientWorker
