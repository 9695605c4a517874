"""Compose stage: the product lands on the stage untouched, grounded by shadows that obey the light."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from nanococoa_mcp.ad.catalog.styles import resolve_style
from nanococoa_mcp.ad.stages import compose, scene
from nanococoa_mcp.ad.stages.scene import Light, SceneOutput
from nanococoa_mcp.errors import InvalidInput

OBJECTS = Path(__file__).resolve().parents[2] / "data" / "objects"
WARM = ((200, 140, 60), (240, 220, 180))


def bottle(h: int = 400, w: int = 220) -> np.ndarray:
    """A shaded, anti-aliased bottle (body + neck) with straight alpha, on a transparent canvas."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx = w / 2
    half = np.where(yy < 0.3 * h, 0.14 * w, 0.4 * w)  # neck, then body
    inside = np.clip(half - np.abs(xx - cx) + 0.5, 0, 1) * np.clip(yy - 4, 0, 1) * np.clip(h - 6 - yy, 0, 1)
    shade = 0.55 + 0.45 * np.cos((xx - cx) / (0.4 * w) * 1.2)
    rgb = np.stack([60 + 150 * shade, 120 + 90 * shade, 200 + 40 * shade], axis=2)
    rgb[(yy > 0.55 * h) & (yy < 0.7 * h)] = (240, 240, 235)  # a label band
    return np.dstack([rgb, inside * 255]).round().astype(np.uint8)


def real_product(name: str = "1f376") -> np.ndarray:
    path = OBJECTS / f"{name}.webp"
    if not path.exists():
        return bottle()
    return np.array(Image.open(path).convert("RGBA"))


def flat_scene(light: Light, surface: str = "matte", size: tuple[int, int] = (600, 600)) -> SceneOutput:
    w, h = size
    img = np.full((h, w, 3), 200, np.uint8)
    return SceneOutput(
        image=img,
        horizon_y=int(0.6 * h),
        stage=(w // 2, int(0.85 * h)),
        stage_max_width=int(0.9 * w),
        light=light,
        surface=surface,  # type: ignore[arg-type]
        style_id="test",
    )


def studio(style: str, w: int = 540, h: int = 675, seed: int = 3) -> SceneOutput:
    return scene.run(scene.SceneInput(w, h, resolve_style(style), WARM, 0.5, seed))


def place(sc: SceneOutput, product: np.ndarray, height_frac: float = 0.5, max_upscale: float = 1.6):
    return compose.run(
        compose.ComposeInput(scene=sc, product=product, height_frac=height_frac, max_upscale=max_upscale)
    )


@pytest.mark.parametrize("style", ["luxury", "cafe", "pastel", "neon", "spring"])
def test_the_product_interior_is_copied_bit_for_bit(style: str) -> None:
    out = place(studio(style), real_product())
    assert out.core_mask.sum() > 1000
    changed = np.any(out.image[out.core_mask] != out.product_layer[out.core_mask, :3], axis=1)
    assert int(changed.sum()) == 0


def test_masks_describe_the_placed_product() -> None:
    out = place(studio("minimal"), real_product())
    alpha = out.product_layer[..., 3]
    assert np.array_equal(out.product_mask, alpha >= 128)
    assert not np.any(out.core_mask & (alpha < 255))
    ys, xs = np.nonzero(alpha)
    assert out.product_bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_the_product_stands_on_the_stage_inside_the_canvas() -> None:
    sc = studio("cafe", 1080, 1350)
    out = place(sc, real_product("1f35e"), height_frac=0.52)
    x0, y0, x1, y1 = out.product_bbox
    assert 0 <= x0 < x1 <= 1080 and 0 <= y0 < y1 <= 1350
    solid_rows = np.flatnonzero(out.product_mask.any(axis=1))
    assert abs(int(solid_rows.max()) - sc.stage[1]) <= 1
    assert abs((x0 + x1) / 2 - sc.stage[0]) <= 2


def test_a_wide_product_is_held_to_the_stage_width() -> None:
    sc = studio("pastel", 1080, 1350)
    wide = np.ascontiguousarray(np.rot90(bottle(500, 200)))
    out = place(sc, wide, height_frac=0.6)
    x0, _, x1, _ = out.product_bbox
    assert x1 - x0 <= sc.stage_max_width + 1


def test_a_small_product_is_never_enlarged_beyond_max_upscale() -> None:
    small = bottle(60, 34)
    out = place(flat_scene(Light(90, 50, (255, 255, 255), 0.5)), small, height_frac=0.8, max_upscale=1.6)
    assert out.scale <= 1.6
    _, y0, _, y1 = out.product_bbox
    assert y1 - y0 <= round((60 - 4) * 1.6) + 2


def test_resized_edges_take_no_colour_from_the_transparent_surround() -> None:
    white = bottle()
    white[..., :3] = np.where(white[..., 3:] > 0, 255, 0)  # transparent pixels are black underneath
    out = place(flat_scene(Light(90, 50, (255, 255, 255), 0.5)), white, height_frac=0.3)
    a = out.product_layer[..., 3]
    edge = (a > 0) & (a < 255)
    assert edge.sum() > 50
    assert out.product_layer[edge, :3].min() >= 250


def side_darkening(azimuth: float) -> tuple[float, float]:
    sc = flat_scene(Light(azimuth, 35, (255, 255, 255), 0.3))
    out = place(sc, bottle(), height_frac=0.5)
    x0, _, x1, y1 = out.product_bbox
    band = slice(y1 - 40, y1 + 10)
    width = x1 - x0
    diff = sc.image.astype(np.float32) - out.image.astype(np.float32)
    left = diff[band, max(0, x0 - width) : x0 - 5].mean()
    right = diff[band, x1 + 5 : x1 + width].mean()
    return left, right


def test_the_cast_shadow_falls_on_the_side_away_from_the_light() -> None:
    left, right = side_darkening(180.0)  # light from the left
    assert right > left + 2.0
    left, right = side_darkening(0.0)  # light from the right
    assert left > right + 2.0


def test_the_contact_shadow_darkens_the_floor_at_the_base() -> None:
    sc = flat_scene(Light(90, 60, (255, 255, 255), 0.6))
    out = place(sc, bottle(), height_frac=0.5)
    x0, _, x1, y1 = out.product_bbox
    under = out.image[y1 + 1 : y1 + 5, x0 + 20 : x1 - 20].astype(np.float32).mean()
    far = out.image[y1 + 1 : y1 + 5, :20].astype(np.float32).mean()
    assert far - under > 25


def test_shadows_take_the_scene_colour_not_grey() -> None:
    sc = flat_scene(Light(120, 40, (255, 255, 255), 0.4))
    sc = replace(sc, image=np.tile(np.array([230, 150, 90], np.uint8), (600, 600, 1)))
    out = place(sc, bottle(), height_frac=0.5)
    x0, _, x1, y1 = out.product_bbox
    shadow = out.image[y1 + 2 : y1 + 5, x0 + 30 : x1 - 30].reshape(-1, 3).astype(np.float32).mean(0)
    assert shadow[0] > shadow[1] > shadow[2]  # still warm
    assert shadow[0] < 200  # and darker


def reflection_correlation(surface: str) -> float:
    """How much the floor just below the base looks like the product's own bottom rows, mirrored."""
    product = bottle()
    stripes = (np.arange(product.shape[1]) // 12) % 2 == 0
    product[:, stripes, :3] = (250, 60, 40)
    product[:, ~stripes, :3] = (40, 60, 250)
    sc = flat_scene(Light(90, 60, (255, 255, 255), 0.5), surface=surface)
    sc = replace(sc, image=np.full((600, 600, 3), 30, np.uint8))
    out = place(sc, product, height_frac=0.5)
    x0, _, x1, y1 = out.product_bbox
    below = out.image[y1 + 2 : y1 + 12, x0 + 10 : x1 - 10].astype(np.float32)
    above = out.product_layer[y1 - 12 : y1 - 2, x0 + 10 : x1 - 10, :3].astype(np.float32)
    b = (below[..., 0] - below[..., 2]).mean(axis=0)
    a = (above[..., 0] - above[..., 2]).mean(axis=0)
    if b.std() < 1e-6:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def test_a_glossy_floor_reflects_the_product_and_a_matte_one_does_not() -> None:
    assert reflection_correlation("glossy") > 0.8
    assert abs(reflection_correlation("matte")) < 0.3


def test_a_glossy_studio_scene_shows_the_product_below_its_base() -> None:
    sc = studio("luxury")
    out = place(sc, real_product(), height_frac=0.5)
    x0, _, x1, y1 = out.product_bbox
    lift = out.image[y1 + 2 : y1 + 20, x0:x1].astype(np.float32) - sc.image[y1 + 2 : y1 + 20, x0:x1]
    assert lift.mean() > 5  # a bright product brightens the dark marble beneath it


def test_shadows_stay_on_a_podium_top() -> None:
    sc = studio("pastel", 1080, 1350)
    out = place(sc, real_product("1f35e"), height_frac=0.52)
    assert sc.shadow_catcher is not None
    diff = sc.image.astype(np.int16) - out.image.astype(np.int16)
    near_top = cv2.dilate((sc.shadow_catcher > 0.01).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    off_podium = ~near_top & ~(out.product_layer[..., 3] > 0)
    assert np.abs(diff[off_podium]).max() <= 1


@pytest.mark.parametrize(
    "product",
    [np.zeros((40, 40, 4), np.uint8), np.zeros((40, 40, 3), np.uint8)],
    ids=["empty alpha", "no alpha channel"],
)
def test_a_product_without_pixels_to_place_is_refused(product: np.ndarray) -> None:
    with pytest.raises(InvalidInput) as err:
        place(flat_scene(Light(90, 50, (255, 255, 255), 0.5)), product)
    assert err.value.field == "product"
