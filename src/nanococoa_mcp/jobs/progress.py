"""A running job's progress as the runtime records it, whatever its kind: the latest report, which stage of
the kind's plan is under way (and how long each one took, the ETA's history), which steps are done. The
owner writes `take()` to the jobs table at its own pace; reports may come from any thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from nanococoa_mcp.jobs.models import JobTicket, ProgressUpdate, Stage


def inherited_steps(steps: Sequence[str], job: JobTicket) -> list[str]:
    """The steps a job starts with done: its parent's before `start_step`, and its own before a restart."""
    return list(dict.fromkeys([*steps[: job.start_step - 1], *job.steps_done]))


class ProgressTracker:
    def __init__(self, plan: Sequence[Stage], steps_done: Sequence[str]) -> None:
        self.plan = list(plan)
        self.durations: list[tuple[str, float]] = []  # (stage, seconds) for each plan stage run
        self._steps_done = list(steps_done)  # inherited from a parent, or from before a restart
        self._open: tuple[str, float] | None = None
        self._stage_index = -1
        self._last_step: str | None = None
        self._pending: ProgressUpdate | None = None
        self._lock = threading.Lock()

    def report(self, percent: float, step: str, sub_step: str | None, message: str) -> None:
        now = time.time()
        with self._lock:
            nxt = self._stage_index + 1
            if nxt < len(self.plan) and self.plan[nxt] == (step, sub_step):  # the plan's next stage begins
                self._close_stage(now)
                self._stage_index = nxt
                self._open = (self.plan[nxt][1], now)
            # Every change of step is noted here, not at the write: a quick step may start and end between two.
            if self._last_step is not None and step != self._last_step and self._last_step not in self._steps_done:
                self._steps_done.append(self._last_step)
            self._last_step = step
            self._pending = ProgressUpdate(
                percent=max(0.0, min(100.0, float(percent))),
                step=step,
                sub_step=sub_step,
                message=message,
                stage_index=self._stage_index,
                stage_started_at=self._open[1] if self._open else None,
                steps_done=list(self._steps_done),
            )

    def take(self) -> ProgressUpdate | None:
        """The latest report not yet taken, if any."""
        with self._lock:
            update, self._pending = self._pending, None
            return update

    def finish(self) -> None:
        """The run has ended: the stage under way ends now."""
        with self._lock:
            self._close_stage(time.time())

    def _close_stage(self, now: float) -> None:
        if self._open is not None:
            self.durations.append((self._open[0], now - self._open[1]))
            self._open = None
