"""Time-left estimates for jobs, learnt from the measured durations of past stages (no constants).

A kind says which stages a job runs (its plan); the runtime records how long each took and estimates a
job's time left from the medians of recent runs of the same kind and grouping key.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

from nanococoa_mcp.jobs.models import Stage

LAST_N = 20  # recent runs only: the machine, the settings and the code change


def medians(samples: Iterable[tuple[str, str, float]], group: str, last_n: int = LAST_N) -> dict[str, float]:
    """Median seconds per stage from (stage, group, seconds) samples, newest first.

    Uses this group's runs when there are any, else every group's (a new size still gets an estimate).
    """
    same: dict[str, list[float]] = {}
    every: dict[str, list[float]] = {}
    for stage, sample_group, seconds in samples:
        if sample_group == group and len(same.setdefault(stage, [])) < last_n:
            same[stage].append(seconds)
        if len(every.setdefault(stage, [])) < last_n:
            every[stage].append(seconds)
    return {stage: statistics.median(same.get(stage) or secs) for stage, secs in every.items()}


def estimate(
    plan: list[Stage], stage_index: int, elapsed_in_stage: float, learnt: dict[str, float]
) -> tuple[float | None, float | None]:
    """(seconds left in the job, seconds left in the current step); None when a stage has no history.

    `stage_index` -1 means not started: the whole plan is left, and the first step is the current one.
    """
    if not plan or any(sub not in learnt for _step, sub in plan[max(stage_index, 0) :]):
        return None, None
    if stage_index < 0:
        left_now, rest, step = 0.0, plan, plan[0][0]
    else:
        step, sub = plan[min(stage_index, len(plan) - 1)]
        left_now, rest = max(0.0, learnt[sub] - elapsed_in_stage), plan[stage_index + 1 :]
    eta = left_now + sum(learnt[sub] for _s, sub in rest)
    step_eta = left_now
    for next_step, sub in rest:
        if next_step != step:
            break
        step_eta += learnt[sub]
    return round(eta, 2), round(step_eta, 2)
