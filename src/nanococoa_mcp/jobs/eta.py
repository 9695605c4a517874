"""Time-left estimates for jobs, learnt from the measured durations of past stages (no constants)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable

Stage = tuple[str, str]  # (step, sub_step), as the pipeline's progress events name them

# Mirrors the order of Studio.generate's progress events: step 1 (one cut-out, then a scene and a
# composition per variant), step 2 (layout analysis and typesetting per variant), step 3 (a composite per
# variant). A re-run from step 2 or 3 skips the earlier steps. A test checks real jobs record this plan.
STEP1_FIRST: tuple[Stage, ...] = (("step1_background", "cutout"),)
STEP1_VARIANT: tuple[Stage, ...] = (("step1_background", "scene"), ("step1_background", "compose"))
SCENE_MODEL: Stage = ("step1_background", "scene_generation")  # a diffusion backend repaints the scene
STEP2_VARIANT: tuple[Stage, ...] = (("step2_text", "layout_analysis"), ("step2_text", "html_rendering"))
STEP3_VARIANT: tuple[Stage, ...] = (("step3_composite", "composite"),)
LAST_N = 20  # recent runs only: the machine, the settings and the code change
# Share of the progress bar each step takes when run (typesetting drives a browser: it is the long one).
STEP_WEIGHTS = {"step1_background": 0.45, "step2_text": 0.5, "step3_composite": 0.05}


def stage_plan(variants: int, start_step: int = 1, scene_model: bool = False) -> list[Stage]:
    plan: list[Stage] = []
    if start_step <= 1:
        per_variant = (*STEP1_VARIANT, SCENE_MODEL) if scene_model else STEP1_VARIANT
        plan += [*STEP1_FIRST, *(per_variant * variants)]
    if start_step <= 2:
        plan += list(STEP2_VARIANT * variants)
    return plan + list(STEP3_VARIANT * variants)


def progress_at(plan: list[Stage], index: float) -> float:
    """Percent done when stage `index` of `plan` begins (a fraction: that far into the stage): each
    step's weight spread over its stages."""
    counts: dict[str, int] = {}
    for step, _sub in plan:
        counts[step] = counts.get(step, 0) + 1
    total = sum(STEP_WEIGHTS[s] for s in counts)
    whole = max(0, int(index))
    done = sum(STEP_WEIGHTS[step] / counts[step] for step, _sub in plan[:whole])
    if whole < len(plan) and index > whole:
        step = plan[whole][0]
        done += (index - whole) * STEP_WEIGHTS[step] / counts[step]
    return round(100.0 * done / total, 1)


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
