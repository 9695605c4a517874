"""Scene stage: every style renders a believable, seeded studio set; names resolve in Korean and English."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from nanococoa_mcp.ad.catalog.styles import SceneStyle, list_styles, resolve_style
from nanococoa_mcp.ad.stages import scene
from nanococoa_mcp.errors import InvalidInput

STYLE_IDS = [s.id for s in list_styles()]
WARM = ((200, 140, 60), (240, 220, 180), (90, 60, 30))
RED = ((210, 40, 50),)
BLUE = ((40, 80, 210),)


def render(style: str | SceneStyle, w: int = 540, h: int = 675, seed: int = 1, palette=WARM, anchor: float = 0.5):
    st = resolve_style(style) if isinstance(style, str) else style
    return scene.run(scene.SceneInput(w, h, st, palette, anchor, seed))


def gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)


@pytest.mark.parametrize("style", STYLE_IDS)
@pytest.mark.parametrize("size", [(1080, 1350), (1080, 1080), (1200, 628)])
def test_every_style_renders_at_feed_square_and_banner_sizes(style: str, size: tuple[int, int]) -> None:
    w, h = size
    out = render(style, w, h)
    assert out.image.shape == (h, w, 3) and out.image.dtype == np.uint8
    assert out.style_id == style
    assert 0.4 * h < out.horizon_y < 0.85 * h
    x, y = out.stage
    assert 0 <= x < w and out.horizon_y < y < h
    assert 0 < out.stage_max_width <= w
    assert out.surface == ("glossy" if resolve_style(style).floor.gloss > 0 else "matte")
    assert 0 <= out.light.azimuth_deg <= 180 and 0 < out.light.elevation_deg < 90
    assert out.image.std() > 3  # a scene, not a flat fill


@pytest.mark.parametrize("style", STYLE_IDS)
def test_same_seed_gives_the_same_image_and_other_seeds_vary_noticeably(style: str) -> None:
    a, again, other = render(style, seed=7), render(style, seed=7), render(style, seed=8)
    assert np.array_equal(a.image, again.image)
    assert a.stage == again.stage and a.light == again.light
    diff = np.abs(a.image.astype(np.int16) - other.image.astype(np.int16)).max(axis=2)
    assert (diff > 8).mean() > 0.02, "a new seed should move bokeh, light or podium visibly"


@pytest.mark.parametrize("style", STYLE_IDS)
def test_the_top_of_the_frame_stays_calm_for_copy(style: str) -> None:
    g = gray(render(style).image)
    top = g[: int(0.35 * g.shape[0])]
    texture = top - cv2.GaussianBlur(top, (0, 0), 3)
    assert texture.std() < 5.0


@pytest.mark.parametrize("style", ["minimal", "luxury", "pastel", "winter"])
def test_gradients_are_dithered_not_banded(style: str) -> None:
    top = gray(render(style).image)[: int(0.35 * 675)]
    longest = 0
    for x in range(0, top.shape[1], 20):
        same = np.concatenate([[False], top[1:, x] == top[:-1, x], [False]])
        edges = np.flatnonzero(np.diff(same.astype(np.int8)))
        runs = edges[1::2] - edges[::2] if edges.size else np.array([0])
        longest = max(longest, int(runs.max()) + 1)
    assert longest < 30, "long runs of one 8-bit level read as bands"


def test_the_seam_lies_where_horizon_y_says() -> None:
    out = render("cafe")
    g = cv2.GaussianBlur(gray(out.image), (0, 0), 2)
    edge = np.abs(np.diff(g, axis=0)).mean(axis=1)
    band = slice(int(0.3 * 675), int(0.95 * 675))
    peak = band.start + int(np.argmax(edge[band]))
    assert abs(peak - out.horizon_y) <= 6


def test_an_off_centre_anchor_moves_the_stage() -> None:
    for anchor in (0.3, 0.7):
        out = render("cafe", anchor=anchor)
        assert abs(out.stage[0] - anchor * 540) <= 2


def test_a_podium_style_stands_the_product_on_the_podium_top() -> None:
    out = render("pastel")
    assert out.shadow_catcher is not None
    x, y = out.stage
    assert out.shadow_catcher[y, x] > 0.9  # the stage is on the podium's top face
    assert out.shadow_catcher[out.horizon_y - 5, x] == 0
    assert out.stage_max_width < 540


@pytest.mark.parametrize("style", ["minimal", "pastel", "luxury"])
def test_the_product_palette_steers_palette_driven_styles(style: str) -> None:
    red = render(style, palette=RED).image.astype(np.float32)
    blue = render(style, palette=BLUE).image.astype(np.float32)
    wall_red, wall_blue = red[:250].reshape(-1, 3).mean(0), blue[:250].reshape(-1, 3).mean(0)
    assert np.abs(wall_red - wall_blue).max() > 2.0
    # Harmonious styles lean toward the product's hue; luxury opposes it.
    lean = (wall_red[0] - wall_red[2]) - (wall_blue[0] - wall_blue[2])
    assert lean > 0 if style != "luxury" else lean < 0


def test_a_fixed_palette_style_ignores_the_product_palette() -> None:
    assert np.array_equal(render("neon", palette=RED).image, render("neon", palette=BLUE).image)


@pytest.mark.parametrize(
    ("name", "style_id"),
    [
        ("전통시장 분위기", "traditional_market"),
        ("전통시장", "traditional_market"),
        ("Traditional Market", "traditional_market"),
        ("고급스러운", "luxury"),
        ("LUXURY", "luxury"),
        ("미니멀", "minimal"),
        ("카페", "cafe"),
        ("자연/야외", "nature"),
        ("야외", "nature"),
        ("Nature / Outdoor", "nature"),
        ("네온/밤", "neon"),
        ("밤", "neon"),
        ("봄", "spring"),
        ("계절-봄", "spring"),
        ("계절 여름", "summer"),
        ("season autumn", "autumn"),
        ("Winter season", "winter"),
        ("겨울", "winter"),
        ("파스텔", "pastel"),
        ("  pastel_tone ", "pastel"),
    ],
)
def test_korean_and_english_names_and_aliases_resolve(name: str, style_id: str) -> None:
    assert resolve_style(name).id == style_id


def test_there_are_at_least_eleven_styles_each_described_for_the_ui() -> None:
    styles = list_styles()
    assert len(styles) >= 11
    assert len({s.id for s in styles}) == len(styles)
    for s in styles:
        assert any("\uac00" <= ch <= "\ud7a3" for ch in s.name_ko + s.description)
        assert s.name_en and len(s.mood) >= 3


def test_an_unknown_style_is_refused_naming_the_field_and_listing_the_styles() -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_style("vaporwave")
    assert err.value.field == "style"
    assert err.value.accepted is not None
    for s in list_styles():
        assert s.id in err.value.accepted and s.name_ko in err.value.accepted


def test_a_bare_season_word_asks_which_season() -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_style("계절")
    assert err.value.field == "style"
    assert err.value.accepted is not None and "봄" in err.value.accepted and "winter" in err.value.accepted


@pytest.mark.parametrize(
    ("change", "field"),
    [({"width": 10}, "width"), ({"palette": ()}, "palette"), ({"anchor_x": 1.5}, "anchor_x")],
)
def test_bad_scene_input_is_refused_naming_the_field(change: dict, field: str) -> None:
    inp = scene.SceneInput(540, 675, resolve_style("minimal"), WARM, 0.5, 1)
    with pytest.raises(InvalidInput) as err:
        scene.run(replace(inp, **change))
    assert err.value.field == field


def test_an_unknown_scene_backend_is_refused_listing_the_backends() -> None:
    with pytest.raises(InvalidInput) as err:
        scene.run(scene.SceneInput(540, 675, resolve_style("minimal"), WARM, 0.5, 1), scene.SceneParams(backend="x"))
    assert err.value.accepted is not None and "studio" in err.value.accepted
