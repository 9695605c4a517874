"""The ad's stage plan: the (step, stage) sequence Studio.generate reports, in order, and the share of the
progress bar each step takes. The pipeline's progress and the ad job's learnt ETA both read it."""

from __future__ import annotations

from nanococoa_mcp.jobs.models import Stage

STEPS = ("step1_background", "step2_text", "step3_composite")
# Step 1 (one cut-out, then a scene and a composition per variant), step 2 (layout analysis and typesetting
# per variant), step 3 (a composite per variant). A re-run from step 2 or 3 skips the earlier steps. A test
# checks real jobs record this plan.
STEP1_FIRST: tuple[Stage, ...] = (("step1_background", "cutout"),)
STEP1_VARIANT: tuple[Stage, ...] = (("step1_background", "scene"), ("step1_background", "compose"))
SCENE_MODEL: Stage = ("step1_background", "scene_generation")  # a diffusion backend repaints the scene
STEP2_VARIANT: tuple[Stage, ...] = (("step2_text", "layout_analysis"), ("step2_text", "html_rendering"))
STEP3_VARIANT: tuple[Stage, ...] = (("step3_composite", "composite"),)
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
