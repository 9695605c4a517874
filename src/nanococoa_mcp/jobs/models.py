"""The job runtime's data: states, the status every door reports, errors, progress and recovery reports.
Nothing here knows what a job makes (an ad, a site): that is its kind's business."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.errors import Conflict, NanococoaError
from nanococoa_mcp.jobs.metrics import SystemMetrics
from nanococoa_mcp.tenancy import LOCAL_TENANT

JobState = Literal["queued", "running", "completed", "failed", "stopped"]
Stage = tuple[str, str]  # (step, stage inside it), as a kind's progress reports name them
TERMINAL: frozenset[JobState] = frozenset({"completed", "failed", "stopped"})
STATES: tuple[JobState, ...] = get_args(JobState)  # the one spelling of every state, in order


class QueueFull(Conflict):
    code = "queue_full"


class JobError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="Error code, e.g. invalid_input, worker_crashed, interrupted.")
    message: str
    field: str | None = None
    accepted: str | None = None

    @classmethod
    def from_exception(cls, exc: NanococoaError) -> JobError:
        return cls(error=exc.code, message=exc.message, field=exc.field, accepted=exc.accepted)


class JobStatus(BaseModel):
    """A job as every door reports it (the seed's status fields, plus lineage and resumability)."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    kind: str = Field(
        description="What the job makes: ad (generate_ad_image), homepage (generate_homepage), cutout "
        "(remove_background) or analysis (analyze_layout)."
    )
    status: JobState
    progress_percent: float = Field(ge=0, le=100)
    current_step: str | None = Field(
        description="The step under way: an ad's step1_background, step2_text or step3_composite; a homepage "
        "job's workflow node."
    )
    sub_step: str | None = Field(description="The stage inside the step, e.g. cutout, scene, html_rendering.")
    message: str | None
    elapsed_sec: float = Field(description="Seconds since the job started running (0 while queued).")
    eta_seconds: float | None = Field(description="Seconds until done, learnt from past stage times; null if unknown.")
    step_eta_seconds: float | None = Field(description="Seconds until the current step ends; null if unknown.")
    system_metrics: SystemMetrics | None
    parameters: dict[str, Any]
    queue_position: int | None = Field(description="1 = next to run; null unless queued.")
    parent_id: str | None
    start_step: int = Field(ge=1, le=3)
    steps_done: list[str]
    resumable: bool = Field(description="A failed job that can be re-run from start_step as a child job.")
    error: JobError | None
    result: dict[str, Any] | None = Field(description="result.json of a completed job (file paths, quality).")
    step1_result: str | None = Field(
        default=None, description="Path of a JPEG preview of step 1 (the scene with the product) once it is done."
    )
    final_result: str | None = Field(default=None, description="Path of the finished ad (first variant), once done.")
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class JobTicket:
    """A claimed job as its kind runs it."""

    job_id: str
    kind: str
    parameters: dict[str, Any]
    input_path: Path | None
    start_step: int
    parent_id: str | None
    steps_done: list[str]
    tenant: str = LOCAL_TENANT  # whose job it is: the run acts for this tenant (jobs it queues are its too)


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file a job is queued with (an upload): stored as `uploads/<job id><suffix>` before its row exists."""

    data: bytes
    suffix: str


@dataclass(frozen=True, slots=True)
class Previews:
    """What a kind shows of a job before and after it ends (file paths), in every door's status."""

    step1_result: str | None = None
    final_result: str | None = None


@dataclass(slots=True)
class ProgressUpdate:
    percent: float
    step: str
    sub_step: str | None
    message: str
    stage_index: int
    stage_started_at: float | None
    steps_done: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    requeued: list[str]
    failed: list[str]
    stopped: list[str]


@dataclass(frozen=True, slots=True)
class Claim:
    """A job a distributed worker took: what its kind runs, which attempt this is (its writes are fenced by
    it), and why the previous attempt failed, if one did."""

    job: JobTicket
    attempt: int
    last_failure: str | None
