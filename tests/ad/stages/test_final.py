"""The one typesetting retry rule: what the copy design is asked for after a failed quality report."""

from __future__ import annotations

from typing import Any

from nanococoa_mcp.ad.stages.final import QualityReport, Typesetting, retry_typesetting


def _report(**change: Any) -> QualityReport:
    passing: dict[str, Any] = {
        "product_pixels_changed": 0,
        "text_product_overlap_px": 0,
        "contrast_ratio": 7.2,
        "plate_added": False,
        "inside_safe_area": True,
        "missing_glyphs": [],
        "broken_words": 0,
        "font": "BM JUA_TTF",
        "font_size_px": 96,
        "cutout_confidence": 0.9,
        "cutout_low_confidence": False,
        "passed": True,
    }
    return QualityReport(**{**passing, **change, "passed": not change})


def test_copy_on_the_product_is_retried_first_with_a_smaller_font_cap() -> None:
    report = _report(text_product_overlap_px=420, contrast_ratio=3.1)
    assert retry_typesetting(report, Typesetting(plate_boost=0.2)) == Typesetting(plate_boost=0.2, max_font_px=76)
    tiny = _report(text_product_overlap_px=5, font_size_px=18)
    assert retry_typesetting(tiny, Typesetting()) == Typesetting(max_font_px=16)  # never below 16 px


def test_low_contrast_asks_for_a_stronger_plate_each_time() -> None:
    low = _report(contrast_ratio=3.9)
    once = retry_typesetting(low, Typesetting(max_font_px=80))
    assert once == Typesetting(plate_boost=0.2, max_font_px=80)
    twice = retry_typesetting(low, once)
    assert twice is not None and abs(twice.plate_boost - 0.4) < 1e-9


def test_a_style_whose_plate_is_its_design_is_not_retried_for_contrast() -> None:
    assert retry_typesetting(_report(contrast_ratio=3.9), Typesetting(), fixed_plate=True) is None


def test_a_report_a_retry_cannot_mend_asks_for_no_retry() -> None:
    assert retry_typesetting(_report(), Typesetting()) is None
    assert retry_typesetting(_report(missing_glyphs=["뷁"]), Typesetting()) is None
    assert retry_typesetting(_report(broken_words=1), Typesetting()) is None
    assert retry_typesetting(_report(contrast_ratio=4.5), Typesetting()) is None
