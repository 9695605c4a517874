"""The JobKind protocol: what the job runtime needs to know of a kind of job (an ad, a homepage, a cut-out)
to queue, run, follow, stop and recover it, without knowing what it makes.

A kind runs either in a worker process (`runs_in = "worker"`: inference, kept warm there, spawned from a
picklable factory of kinds) or as an asyncio task of the pool in the server (`runs_in = "server"`: a job that
mostly waits on other jobs, and so must not hold a worker while its own jobs need one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from nanococoa_mcp.jobs.models import JobTicket, Previews, Stage
from nanococoa_mcp.settings import Settings

RunsIn = Literal["worker", "server"]
AfterRestart = Literal["requeue", "fail"]


class JobContext(Protocol):
    """What a running job sees of the runtime."""

    @property
    def data_dir(self) -> Path: ...

    def report(self, percent: float, step: str, sub_step: str | None, message: str) -> None:
        """Progress: the step (and stage inside it) under way. In a worker it raises JobStopped once a stop
        has been requested; a stage in between reports calls jobs.cancel.checkpoint()."""

    def should_stop(self) -> bool:
        """Whether a stop has been requested (for code that cannot take an exception at any report)."""


class JobKind(Protocol):
    """A kind of job. `parameters` is what a door queues (JSON); everything else reads it back."""

    @property
    def name(self) -> str:
        """The `kind` column: ad, homepage, …"""

    @property
    def steps(self) -> tuple[str, ...]:
        """Its steps in order: `steps_done` names them; a child job may start at step 2..len(steps)."""

    @property
    def runs_in(self) -> RunsIn: ...

    @property
    def resumable(self) -> bool:
        """A job cut short (a crash, an unexpected error) may be re-run from a finished step as a child."""

    def check(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters as stored, checked. Raises InvalidInput naming the field."""

    def eta_plan(self, parameters: Mapping[str, Any], start_step: int) -> list[Stage]:
        """The (step, stage) sequence a run reports, in order; empty when its time cannot be learnt."""

    def eta_group(self, parameters: Mapping[str, Any]) -> str:
        """Stage times are learnt per kind and per this key (e.g. an ad's size preset)."""

    def previews(self, job_id: str, result: Mapping[str, Any] | None) -> Previews: ...

    def after_restart(self, steps_done: Sequence[str]) -> AfterRestart:
        """A job a dead server left running: queued again, or failed (resumable when `resumable`)."""


class WorkerKind(JobKind, Protocol):
    """A kind run in the worker processes; one object per kind and process, reused for every job."""

    def warm(self) -> None:
        """Load what the first job would otherwise wait for (a browser, a model)."""

    def run(self, job: JobTicket, context: JobContext) -> dict[str, Any]:
        """Run the job; its result (JSON). Raises JobStopped, or a NanococoaError the job fails with."""

    def close(self) -> None: ...


class ServerKind(JobKind, Protocol):
    """A kind run as a task of the pool in the server's event loop."""

    @property
    def concurrency(self) -> int:
        """At most this many of its jobs run at once."""

    async def run(self, job: JobTicket, context: JobContext) -> dict[str, Any]:
        """Run the job; its result (JSON). Raises JobStopped, or a NanococoaError the job fails with."""


# Spawned workers build their kinds from this: a module-level function, so it pickles by name.
WorkerKindsFactory = Callable[[Settings], Sequence[WorkerKind]]
# A distributed worker builds the kinds it runs beside its slots (a homepage) from this.
ServerKindsFactory = Callable[[Settings], Sequence[ServerKind]]
