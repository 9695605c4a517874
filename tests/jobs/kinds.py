"""Two tiny job kinds of the tests' own, real JobKinds that make nothing of ours, to show the runtime runs any
kind: `steps` (a worker kind: two steps of a few stages, each a short sleep with stop points) and `relay`
(a server kind that queues a `steps` job and waits for it, as a homepage waits for its ads)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nanococoa_mcp.errors import Conflict, InvalidInput, JobFailed
from nanococoa_mcp.jobs.cancel import JobStopped, checkpoint
from nanococoa_mcp.jobs.kinds import AfterRestart, JobContext, RunsIn, WorkerKind
from nanococoa_mcp.jobs.models import TERMINAL, JobTicket, Previews, Stage
from nanococoa_mcp.jobs.pool import WorkerPool
from nanococoa_mcp.settings import Settings
from nanococoa_mcp.storage import StorageError

STEPS = ("first", "second")


class StepsJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stages: int = Field(default=2, ge=1, le=20, description="Stages per step.")
    seconds: float = Field(default=0.05, ge=0, le=30, description="Each stage's sleep.")
    group: str = "small"
    fail: Literal["invalid", "bug"] | None = None


def _checked(parameters: Mapping[str, Any]) -> StepsJob:
    try:
        return StepsJob.model_validate(dict(parameters))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(first["msg"], field=".".join(str(p) for p in first["loc"])) from None


class StepsKind:
    name = "steps"
    steps: tuple[str, ...] = STEPS
    runs_in: RunsIn = "worker"
    resumable = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.warmed_in: int | None = None

    def check(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        return _checked(parameters).model_dump()

    def eta_plan(self, parameters: Mapping[str, Any], start_step: int) -> list[Stage]:
        n = int(parameters.get("stages", 2))
        return [(step, f"{step}_{i}") for step in STEPS[start_step - 1 :] for i in range(n)]

    def eta_group(self, parameters: Mapping[str, Any]) -> str:
        return str(parameters.get("group", ""))

    def previews(self, job_id: str, result: Mapping[str, Any] | None) -> Previews:
        return Previews(final_result=(result or {}).get("file"))

    def after_restart(self, steps_done: Sequence[str]) -> AfterRestart:
        return "fail" if steps_done else "requeue"

    def warm(self) -> None:
        self.warmed_in = os.getpid()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)  # a remote worker's scratch dir may be new
        with (self.settings.data_dir / "warmed.log").open("a") as log:  # what the test can see of it
            log.write(f"{self.warmed_in}\n")

    def run(self, job: JobTicket, context: JobContext) -> dict[str, Any]:
        params = _checked(job.parameters)
        plan = self.eta_plan(job.parameters, job.start_step)
        for i, (step, stage) in enumerate(plan):
            context.report(100.0 * i / len(plan), step, stage, f"{stage} of {len(plan)}")
            deadline = time.monotonic() + params.seconds
            while time.monotonic() < deadline:
                checkpoint()
                time.sleep(0.01)
        if params.fail == "invalid":
            raise InvalidInput("the steps job was told to refuse", field="fail", accepted="null")
        if params.fail == "bug":
            raise RuntimeError("the steps job was told to break")
        out = context.data_dir / "steps" / f"{job.job_id}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        given = job.input_path.read_text() if job.input_path is not None else ""
        out.write_text(f"{given}|{os.getpid()}|{self.warmed_in}")
        return {"file": str(out), "stages": len(plan)}

    def close(self) -> None:
        self.warmed_in = None


def worker_kinds(settings: Settings) -> list[WorkerKind]:
    """The pool's factory for the tests' worker processes (a module-level function: it pickles by name)."""
    return [StepsKind(settings)]


class RelayKind:
    """A server kind: queues a `steps` job through the pool and follows it to its end."""

    name = "relay"
    steps: tuple[str, ...] = ("wait",)
    runs_in: RunsIn = "server"
    resumable = False
    concurrency = 1

    def __init__(self) -> None:
        self.pool: WorkerPool | None = None  # set once the pool that runs it exists

    def check(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        return {"child": _checked(parameters.get("child", {})).model_dump()}

    def eta_plan(self, parameters: Mapping[str, Any], start_step: int) -> list[Stage]:
        return []

    def eta_group(self, parameters: Mapping[str, Any]) -> str:
        return ""

    def previews(self, job_id: str, result: Mapping[str, Any] | None) -> Previews:
        return Previews()

    def after_restart(self, steps_done: Sequence[str]) -> AfterRestart:
        return "requeue"

    async def run(self, job: JobTicket, context: JobContext) -> dict[str, Any]:
        assert self.pool is not None
        child = await self.pool.submit("steps", job.parameters["child"])
        context.report(10.0, "wait", None, f"waiting for {child.job_id}")
        while True:
            status = await self.pool.store.get(child.job_id, metrics=False)
            if status.status in TERMINAL:
                break
            if context.should_stop():
                await self.pool.stop(child.job_id)
                raise JobStopped("the relay was stopped", field="job_id")
            await asyncio.sleep(0.02)
        if status.status != "completed":
            raise JobFailed(f"the steps job ended {status.status}", field="child")
        return {"child": child.job_id}


class PagesJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(default=0.05, ge=0, le=30, description="Each step's sleep, with stop points.")
    log: str | None = Field(default=None, description="A file each step run appends its name to.")
    fail_at: Literal["draft", "final"] | None = None
    fail_times: int = Field(default=0, ge=0, description="Runs of `fail_at` that fail (counted in `log`).")
    deaf_seconds: float = Field(default=0, ge=0, le=30, description="A sleep as the final step starts, with no "
                                "stop point and no report: a job that ignores a stop that long.")


class PagesKind:
    """A worker kind that keeps its files as the ad kind does: a finished step's checkpoint under
    `steps/<id>/`, its result under `jobs/<id>/`; it resumes from step 2 with the checkpoint (its own, or its
    parent's for a child job). Fails with a StorageError (a store out of reach) as many times as told."""

    name = "pages"
    steps: tuple[str, ...] = ("draft", "final")
    runs_in: RunsIn = "worker"
    resumable = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def check(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return PagesJob.model_validate(dict(parameters)).model_dump()
        except ValidationError as exc:
            raise InvalidInput(exc.errors()[0]["msg"], field=str(exc.errors()[0]["loc"][0])) from None

    def eta_plan(self, parameters: Mapping[str, Any], start_step: int) -> list[Stage]:
        return [(step, step) for step in self.steps[start_step - 1 :]]

    def eta_group(self, parameters: Mapping[str, Any]) -> str:
        return ""

    def previews(self, job_id: str, result: Mapping[str, Any] | None) -> Previews:
        draft = self.settings.data_dir / "steps" / job_id / "draft.json"
        return Previews(step1_result=str(draft) if draft.is_file() else None,
                        final_result=(result or {}).get("page_path"))

    def after_restart(self, steps_done: Sequence[str]) -> AfterRestart:
        return "fail" if steps_done else "requeue"

    def warm(self) -> None:
        """Nothing to load."""

    def _step(self, params: PagesJob, step: str) -> None:
        """Sleep with stop points; note the run in the log; fail as told."""
        deadline = time.monotonic() + params.seconds
        while time.monotonic() < deadline:
            checkpoint()
            time.sleep(0.01)
        if params.log is None:
            return
        log = Path(params.log)
        with log.open("a") as fh:
            fh.write(f"{step}\n")
        if step == params.fail_at and log.read_text().split().count(step) <= params.fail_times:
            raise StorageError(f"the pages store was out of reach at {step}", field="blob_url")

    def run(self, job: JobTicket, context: JobContext) -> dict[str, Any]:
        params = PagesJob.model_validate(job.parameters)
        own = context.data_dir / "steps" / job.job_id
        draft = own / "draft.json"
        if job.start_step == 1:
            context.report(0.0, "draft", "draft", "drafting")
            self._step(params, "draft")
            given = job.input_path.read_text() if job.input_path is not None else ""
            own.mkdir(parents=True, exist_ok=True)
            draft.write_text(json.dumps({"text": given.upper(), "pid": os.getpid(), "job": job.job_id}))
        elif job.parent_id is not None:
            parent = context.data_dir / "steps" / job.parent_id / "draft.json"
            if not parent.is_file():
                raise Conflict("the parent job has no draft", field="start_step", accepted="1")
            own.mkdir(parents=True, exist_ok=True)
            draft.write_text(parent.read_text())
        context.report(50.0, "final", "final", "finishing")
        time.sleep(params.deaf_seconds)
        self._step(params, "final")
        out = context.data_dir / "jobs" / job.job_id / "page.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        page = {"draft": json.loads(draft.read_text()), "final_pid": os.getpid()}
        out.write_text(json.dumps(page))
        return {"page_path": str(out)}

    def close(self) -> None:
        """Nothing to release."""


def pages_kinds(settings: Settings) -> list[WorkerKind]:
    return [PagesKind(settings), StepsKind(settings)]
