"""Time-left estimates from a plan of stages and the learnt medians of past runs."""

from __future__ import annotations

from nanococoa_mcp.jobs import eta

PLAN = [("step1", "cutout"), ("step1", "scene"), ("step1", "compose"), ("step2", "layout"), ("step2", "render"),
        ("step3", "composite")]
LEARNT = {"cutout": 1.0, "scene": 2.0, "compose": 0.5, "layout": 0.25, "render": 1.0, "composite": 0.5}


def test_the_estimate_adds_what_is_left_of_this_stage_to_the_stages_after_it() -> None:
    assert eta.estimate(PLAN, -1, 0.0, LEARNT) == (5.25, 3.5)
    assert eta.estimate(PLAN, 1, 0.5, LEARNT) == (3.75, 2.0)
    assert eta.estimate(PLAN, 4, 5.0, LEARNT) == (0.5, 0.0)
    assert eta.estimate(PLAN, 5, 0.1, LEARNT) == (0.4, 0.4)


def test_a_stage_without_history_or_a_kind_without_a_plan_has_no_estimate() -> None:
    assert eta.estimate(PLAN, 0, 0.0, {"cutout": 1.0}) == (None, None)
    assert eta.estimate([], -1, 0.0, LEARNT) == (None, None)


def test_medians_prefer_this_groups_history_and_fall_back_to_every_group() -> None:
    samples = [("scene", "1:1", 1.0), ("scene", "1:1", 3.0), ("scene", "9:16", 9.0), ("cutout", "9:16", 2.0)]
    assert eta.medians(samples, "1:1") == {"scene": 2.0, "cutout": 2.0}
