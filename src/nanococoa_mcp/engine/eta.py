"""Time-left estimates for jobs, learnt from the measured durations of past stages (no constants)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable

Stage = tuple[str, str]  # (step, sub_step), as the pipeline's progress events name them

# Mirrors the order of Studio.generate's progress events: one cut-out, then four timed stages per variant
# (its step3 "final" tick only marks a variant's end). A test checks that real jobs record this plan.
FIRST_STAGES: tuple[Stage, ...] = (("step1_background", "cutout"),)
VARIANT_STAGES: tuple[Stage, ...] = (
    ("step1_background", "scene"),
    ("step1_background", "compose"),
    ("step2_text", "layout_analysis"),
    ("step2_text", "html_rendering"),
)
LAST_N = 20  # recent runs only: the machine, the settings and the code change


def stage_plan(variants: int) -> list[Stage]:
    return [*FIRST_STAGES, *(VARIANT_STAGES * variants)]


def medians(samples: Iterable[tuple[str, str, float]], size: str, last_n: int = LAST_N) -> dict[str, float]:
    """Median seconds per stage from (stage, size, seconds) samples, newest first.

    Uses this size's runs when there are any, else every size's (a new size still gets an estimate).
    """
    same: dict[str, list[float]] = {}
    every: dict[str, list[float]] = {}
    for stage, sample_size, seconds in samples:
        if sample_size == size and len(same.setdefault(stage, [])) < last_n:
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
    if any(sub not in learnt for _step, sub in plan[max(stage_index, 0) :]):
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
