"""The ad's stage plan: what an ad job reports, step by step, and how far along each stage puts it."""

from __future__ import annotations

import itertools

from nanococoa_mcp.ad.plan import progress_at, stage_plan


def test_a_whole_ad_plans_a_cutout_then_scene_and_compose_per_variant_then_text_and_composite() -> None:
    assert stage_plan(2) == [
        ("step1_background", "cutout"),
        ("step1_background", "scene"), ("step1_background", "compose"),
        ("step1_background", "scene"), ("step1_background", "compose"),
        ("step2_text", "layout_analysis"), ("step2_text", "html_rendering"),
        ("step2_text", "layout_analysis"), ("step2_text", "html_rendering"),
        ("step3_composite", "composite"), ("step3_composite", "composite"),
    ]
    assert ("step1_background", "scene_generation") in stage_plan(1, scene_model=True)


def test_a_rerun_from_a_later_step_plans_only_the_steps_it_runs_and_its_progress_rises_to_100() -> None:
    assert [sub for _s, sub in stage_plan(2, start_step=2)] == [
        "layout_analysis", "html_rendering", "layout_analysis", "html_rendering", "composite", "composite"
    ]
    assert stage_plan(1, start_step=3) == [("step3_composite", "composite")]
    plan = stage_plan(2)
    percents = [progress_at(plan, i) for i in range(len(plan) + 1)]
    assert percents[0] == 0.0 and percents[-1] == 100.0
    assert all(a < b for a, b in itertools.pairwise(percents))
