"""Layout analysis: the seed's Qwen2-VL JSON, measured from the image, and never pointing at the product."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from nanococoa_mcp.ad.stages import layout
from nanococoa_mcp.errors import InvalidInput

SEED_EXAMPLE = {  # the seed's §7.4.2 example, verbatim in shape
    "objects": [{"type": "product", "location": "bottom-center", "bbox": [120, 450, 680, 980], "점유율": 0.35}],
    "color_analysis": {
        "dominant_colors": ["#8B4513", "#F5DEB3", "#FFFFFF"],
        "brightness_map": {"top": 0.75, "middle": 0.50, "bottom": 0.45},
    },
    "empty_spaces": [
        {
            "region": "top-center",
            "bbox": [150, 50, 650, 350],
            "suitability": 0.90,
            "reason": "bright background, high contrast area",
        },
        {
            "region": "middle-left",
            "bbox": [50, 300, 200, 600],
            "suitability": 0.65,
            "reason": "moderate space but near product edge",
        },
    ],
    "recommendations": {
        "text_position": "top-center",
        "text_color": "#FF0000",
        "background_needed": True,
        "background_opacity": 0.7,
        "font_size_range": [48, 72],
    },
}


def _scene(
    w: int = 800, h: int = 1200, product: tuple[int, int, int, int] = (250, 600, 550, 1100), top: int = 235
) -> tuple[np.ndarray, np.ndarray]:
    img = np.full((h, w, 3), top, np.uint8)
    mask = np.zeros((h, w), bool)
    x0, y0, x1, y1 = product
    yy, xx = np.mgrid[0:h, 0:w]
    mask |= ((xx - (x0 + x1) / 2) / ((x1 - x0) / 2)) ** 2 + ((yy - (y0 + y1) / 2) / ((y1 - y0) / 2)) ** 2 < 1
    img[mask] = (150, 40, 30)
    return img, mask


def _analyse(img: np.ndarray, mask: np.ndarray | None) -> layout.LayoutAnalysis:
    return layout.run(layout.LayoutInput(image=img, product_mask=mask)).analysis


def test_the_seed_example_validates_and_round_trips_in_its_own_shape() -> None:
    parsed = layout.LayoutAnalysis.model_validate(SEED_EXAMPLE)
    assert parsed.to_json_dict() == json.loads(json.dumps(SEED_EXAMPLE))


def test_embedded_analysis_emits_exactly_the_seed_keys() -> None:
    img, mask = _scene()
    out = _analyse(img, mask).to_json_dict()
    assert set(out) == set(SEED_EXAMPLE)
    assert set(out["objects"][0]) == {"type", "location", "bbox", "점유율"}
    assert set(out["color_analysis"]) == {"dominant_colors", "brightness_map"}
    assert set(out["empty_spaces"][0]) == {"region", "bbox", "suitability", "reason"}
    assert set(out["recommendations"]) == set(SEED_EXAMPLE["recommendations"])  # type: ignore[arg-type]
    layout.LayoutAnalysis.model_validate(out)


def test_product_box_and_occupancy_are_measured_from_the_mask() -> None:
    img, mask = _scene()
    obj = _analyse(img, mask).objects[0]
    ys, xs = np.nonzero(mask)
    assert obj.bbox == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert obj.bbox == pytest.approx([250, 600, 550, 1100], abs=2)
    assert obj.location == "bottom-center"
    assert obj.occupancy == pytest.approx(mask.mean(), abs=0.002)


def test_no_empty_space_touches_the_product() -> None:
    for product in [(250, 600, 550, 1100), (40, 300, 380, 900), (420, 100, 780, 700)]:
        img, mask = _scene(product=product)
        for space in _analyse(img, mask).empty_spaces:
            x0, y0, x1, y1 = space.bbox
            assert not mask[y0:y1, x0:x1].any(), space


def test_copy_goes_above_a_product_standing_at_the_bottom() -> None:
    img, mask = _scene()
    rec = _analyse(img, mask).recommendations
    assert rec.text_position.startswith("top")


def test_a_product_on_the_left_leaves_the_right_side_for_copy() -> None:
    img, mask = _scene(product=(40, 150, 380, 1150))
    regions = [s.region for s in _analyse(img, mask).empty_spaces]
    assert any(r.endswith("right") for r in regions)


def test_dark_backgrounds_get_light_text_and_bright_ones_dark_text() -> None:
    for top, expect_light in ((20, True), (240, False)):
        img, mask = _scene(top=top)
        color = _analyse(img, mask).recommendations.text_color
        lum = int(color[1:3], 16)
        assert (lum > 128) == expect_light


def test_busy_regions_score_lower_and_ask_for_a_backing_plate() -> None:
    img, mask = _scene()
    calm = _analyse(img, mask).empty_spaces[0].suitability
    noisy = img.copy()
    rng = np.random.default_rng(0)
    noisy[:550] = rng.integers(0, 256, noisy[:550].shape, dtype=np.uint8)
    busy = _analyse(noisy, mask)
    assert busy.empty_spaces[0].suitability < calm
    assert busy.recommendations.background_needed
    assert busy.recommendations.background_opacity >= 0.3


def test_brightness_map_follows_the_image() -> None:
    img = np.zeros((900, 600, 3), np.uint8)
    img[:300] = 255
    img[300:600] = 128
    bm = _analyse(img, np.zeros((900, 600), bool)).color_analysis.brightness_map
    assert bm.top == pytest.approx(1.0, abs=0.01)
    assert bm.middle == pytest.approx(0.22, abs=0.02)  # WCAG luminance of mid grey
    assert bm.bottom == 0.0


@pytest.mark.parametrize(
    "patch",
    [
        {"empty_spaces": [{"region": "top-center", "bbox": [10, 10, 5, 50], "suitability": 0.5, "reason": "x"}]},
        {"empty_spaces": [{"region": "top-center", "bbox": [0, 0, 5, 5], "suitability": 1.5, "reason": "x"}]},
        {"empty_spaces": [{"region": "upper", "bbox": [0, 0, 5, 5], "suitability": 0.5, "reason": "x"}]},
        {"recommendations": {**SEED_EXAMPLE["recommendations"], "font_size_range": [72, 48]}},  # type: ignore[dict-item]
        {"color_analysis": {"dominant_colors": ["red"], "brightness_map": {"top": 0, "middle": 0, "bottom": 0}}},
        {"extra_key": 1},
    ],
)
def test_malformed_analyses_are_rejected(patch: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        layout.LayoutAnalysis.model_validate({**SEED_EXAMPLE, **patch})


def test_unknown_layout_backend_lists_the_known_ones() -> None:
    img, mask = _scene()
    with pytest.raises(InvalidInput) as info:
        layout.run(layout.LayoutInput(image=img, product_mask=mask), layout.LayoutParams(backend="gpt-vision"))
    assert info.value.field == "layout_backend" and "studio, qwen" in (info.value.accepted or "")


def test_analysis_json_is_plain_json(tmp_path: Path) -> None:
    img, mask = _scene()
    path = tmp_path / "a.json"
    path.write_text(json.dumps(_analyse(img, mask).to_json_dict(), ensure_ascii=False))
    assert "점유율" in path.read_text()


def test_large_images_without_a_mask_still_find_the_product() -> None:
    img = np.full((2400, 1800, 3), 240, np.uint8)
    yy, xx = np.mgrid[0:2400, 0:1800]
    blob = ((xx - 900) / 400) ** 2 + ((yy - 1500) / 600) ** 2 < 1
    img[blob] = (160, 30, 40)
    out = _analyse(img, None)
    assert out.objects, "the product was not found"
    assert out.objects[0].bbox == pytest.approx([500, 900, 1300, 2100], abs=25)
