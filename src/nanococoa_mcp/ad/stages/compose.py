"""Compose stage: the product set into its scene at the stage, grounded by contact and cast shadows
(and a reflection on glossy floors); the product's own pixels are copied, never repainted."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from nanococoa_mcp.ad.stages.scene import Light, SceneOutput
from nanococoa_mcp.errors import InvalidInput

F32 = npt.NDArray[np.float32]
SHADOW_SCALE = 0.25  # soft shadows are built at a quarter of the canvas size, the contact line at half
FORESHORTEN = 0.4  # how much a floor distance toward/away from the camera shrinks on screen
TOP_MARGIN = 0.02  # the product never touches the canvas's top edge
REFLECTION = 0.34  # opacity of a glossy floor's mirror image right at the base


@dataclass(frozen=True, slots=True)
class ComposeInput:
    scene: SceneOutput
    product: npt.NDArray[np.uint8]  # H×W×4 RGBA cut-out, straight alpha, any size
    height_frac: float  # target product height as a fraction of the canvas height
    max_upscale: float = 1.6  # never enlarge the product more than this


@dataclass(frozen=True, slots=True)
class ComposeOutput:
    image: npt.NDArray[np.uint8]  # H×W×3: scene + shadows (+ reflection) + product
    product_layer: npt.NDArray[np.uint8]  # H×W×4: the placed product at canvas size, straight alpha
    core_mask: npt.NDArray[np.bool_]  # H×W: alpha == 255 eroded 1 px; image == product_layer there, bit for bit
    product_mask: npt.NDArray[np.bool_]  # H×W: alpha >= 128
    product_bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) of alpha > 0
    scale: float


@dataclass(frozen=True, slots=True)
class _Placed:
    rgba: npt.NDArray[np.uint8]  # the resized product
    x0: int
    y0: int
    base_y: int  # canvas row of the product's base
    scale: float


def _check(inp: ComposeInput) -> npt.NDArray[np.uint8]:
    p = inp.product
    if p.ndim != 3 or p.shape[2] != 4 or p.dtype != np.uint8:
        raise InvalidInput("the product must be an H×W×4 uint8 RGBA cut-out", field="product")
    if not 0.05 <= inp.height_frac <= 1.0:
        raise InvalidInput(f"height_frac {inp.height_frac} is outside 0.05..1", field="height_frac")
    if inp.max_upscale <= 0:
        raise InvalidInput("max_upscale must be positive", field="max_upscale")
    ys, xs = np.nonzero(p[..., 3])
    if ys.size == 0:
        raise InvalidInput("the product's alpha is empty: nothing to place", field="product")
    return p[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _base_row(alpha: npt.NDArray[np.uint8]) -> int:
    """The lowest row the product really stands on (ignores a faint anti-aliased tail)."""
    rows = np.nonzero((alpha >= 128).any(axis=1))[0]
    return int(rows.max()) if rows.size else alpha.shape[0] - 1


def _resize(rgba: npt.NDArray[np.uint8], scale: float) -> npt.NDArray[np.uint8]:
    """One resize, premultiplied so edges take no colour from the transparent surround."""
    h, w = rgba.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return rgba.copy()
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LANCZOS4
    b, g, r, a = cv2.split(rgba.astype(np.float32))
    prem = cv2.merge([cv2.multiply(c, a, scale=1.0 / 255.0) for c in (b, g, r)] + [a])
    b, g, r, a = cv2.split(cv2.resize(prem, size, interpolation=interp))
    a = np.clip(a, 0.0, 255.0)
    safe = np.maximum(a, np.float32(1e-3))
    straight = [cv2.divide(np.maximum(c, 0.0), safe, scale=255.0) for c in (b, g, r)]
    out = np.asarray(cv2.convertScaleAbs(np.minimum(cv2.merge([*straight, a]), 255.0)), dtype=np.uint8)
    out[out[..., 3] == 0, :3] = 0  # fully transparent pixels carry no colour
    return out


def _place(inp: ComposeInput, crop: npt.NDArray[np.uint8]) -> _Placed:
    """Scale to the target height within the stage's width, the canvas and max_upscale; base on the stage."""
    sc = inp.scene
    H, W = sc.image.shape[:2]
    ch, cw = crop.shape[:2]
    sx, sy = sc.stage
    base = _base_row(crop[..., 3]) + 1
    scale = min(
        inp.height_frac * H / ch,
        sc.stage_max_width / cw,
        0.96 * W / cw,
        max(sy - TOP_MARGIN * H, 1.0) / base,
        0.98 * H / ch,
        inp.max_upscale,
    )
    rgba = _resize(crop, scale)
    h, w = rgba.shape[:2]
    base_y = _base_row(rgba[..., 3])
    x0 = int(np.clip(round(sx - w / 2), 0, W - w))
    y0 = int(np.clip(sy - base_y, 0, H - h))
    return _Placed(rgba=rgba, x0=x0, y0=y0, base_y=y0 + base_y, scale=scale)


def _warp(src: F32, m: npt.NDArray[np.float64], size: tuple[int, int]) -> F32:
    out = cv2.warpAffine(src, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return np.asarray(out, dtype=np.float32)


def _blur(img: F32, sigma: float) -> F32:
    return np.asarray(cv2.GaussianBlur(img, (0, 0), sigmaX=max(sigma, 0.4), borderType=cv2.BORDER_CONSTANT), np.float32)


def _squash(a: F32, by: float, k: float) -> F32:
    """The silhouette flattened onto the floor below its base (a footprint), k = vertical scale."""
    m = np.array([[1.0, 0.0, 0.0], [0.0, -k, by * (1.0 + k)]])
    return _warp(a, m, (a.shape[1], a.shape[0]))


def _cast(a: F32, by: float, ph: float, light: Light) -> F32:
    """The silhouette thrown along the floor away from the light; softer and fainter with distance."""
    az, el = math.radians(light.azimuth_deg), math.radians(light.elevation_deg)
    length = float(np.clip(0.8 / math.tan(el), 0.2, 1.8))
    shear = -math.cos(az) * length
    depth = math.sin(az) * length * FORESHORTEN
    if abs(depth) < 0.1:  # a light from the side still sits a little in front: the shadow runs behind
        depth = -0.1
    m = np.array([[1.0, -shear, shear * by], [0.0, -depth, by * (1.0 + depth)]])
    thrown = _warp(a, m, (a.shape[1], a.shape[0]))
    soft = light.softness
    near = _blur(thrown, (0.006 + 0.03 * soft) * ph)
    far = _blur(thrown, (0.04 + 0.14 * soft) * ph)
    ys = np.arange(a.shape[0], dtype=np.float32)[:, None]
    t = np.clip((ys - by) / (depth * ph), 0.0, 1.0)
    opacity = (0.7 - 0.38 * soft) * (1.0 - t) ** 1.3
    return ((near + (far - near) * t) * opacity).astype(np.float32)


def _column_lift(a: F32, by: float, ph: float) -> F32:
    """Per column, how far the silhouette's lowest point sits above the base row (px, >= 0).

    A product seen from slightly above touches the floor along its lower contour, not one row:
    shadows are built on the silhouette with each column dropped to the base, then lifted back.
    """
    solid = a >= 0.5
    has = solid.any(axis=0)
    cols = np.arange(a.shape[1])
    if not has.any():
        return np.zeros(a.shape[1], np.float32)
    bottom = a.shape[0] - 1 - np.argmax(solid[::-1], axis=0)
    lift = np.clip(by - 0.5 - bottom, 0.0, 0.3 * ph).astype(np.float32)
    lift = np.interp(cols, cols[has], lift[has]).astype(np.float32)  # beyond the product: nearest edge
    return cv2.GaussianBlur(lift[None, :], (0, 0), sigmaX=2.0, borderType=cv2.BORDER_REPLICATE)[0]


def _shift_columns(img: F32, lift: F32, sign: float) -> F32:
    """Move each column's content down (sign=+1) or up (sign=-1) by its lift."""
    h, w = img.shape
    mx = np.broadcast_to(np.arange(w, dtype=np.float32)[None, :], (h, w))
    my = np.arange(h, dtype=np.float32)[:, None] - sign * lift[None, :]
    out = cv2.remap(img, mx, my.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return np.asarray(out, dtype=np.float32)


def _shadow_map(sc: SceneOutput, alpha: npt.NDArray[np.uint8], placed: _Placed) -> F32:
    """Occlusion (0..1) at half size: a tight contact line along the lower contour, an ambient
    footprint and the cast shadow (both built at quarter size: they are soft), as a union."""
    H, W = alpha.shape
    hw, hh = max(8, round(W * 0.5)), max(8, round(H * 0.5))
    a = cv2.resize(alpha, (hw, hh), interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1.0 / 255.0)
    by = (placed.base_y + 0.5) * hh / H
    ph = max(placed.base_y - placed.y0, 1) * hh / H
    lift = _column_lift(a, by, ph)
    flat = _shift_columns(a, lift, 1.0)
    above = np.clip(by - np.arange(hh, dtype=np.float32)[:, None], 0, None)
    contact = _blur(_squash(flat * np.exp(-above / (0.05 * ph)), by, 0.08), 0.004 * ph + 0.7)
    qw, qh = max(8, round(W * SHADOW_SCALE)), max(8, round(H * SHADOW_SCALE))
    q = np.asarray(cv2.resize(flat, (qw, qh), interpolation=cv2.INTER_AREA), dtype=np.float32)
    k = qh / hh
    q_above = np.clip(by * k - np.arange(qh, dtype=np.float32)[:, None], 0, None)
    ambient = _blur(_squash(q * np.exp(-q_above / (0.4 * ph * k)), by * k, 0.16), 0.05 * ph * k) * 0.4
    cast = _cast(q, by * k, ph * k, sc.light)
    soft = 1.0 - (1.0 - np.clip(ambient, 0, 1)) * (1.0 - np.clip(cast, 0, 1))
    soft = cv2.resize(soft, (hw, hh), interpolation=cv2.INTER_LINEAR)
    occ = 1.0 - (1.0 - np.clip(contact, 0, 1)) * (1.0 - soft)
    occ = _shift_columns(occ.astype(np.float32), lift, -1.0)
    if sc.shadow_catcher is not None:
        occ = occ * cv2.resize(sc.shadow_catcher.astype(np.float32), (hw, hh), interpolation=cv2.INTER_AREA)
    return occ.astype(np.float32)


def _fill_colour(sc: SceneOutput) -> F32:
    """What lights a shadow: the scene's own ambient colour (wall behind the stage), not grey."""
    H, W = sc.image.shape[:2]
    y = int(np.clip(sc.horizon_y - 0.12 * H, 0, H - 1))
    x = int(np.clip(sc.stage[0], 0, W - 1))
    patch = sc.image[max(0, y - H // 20) : y + H // 20 + 1, max(0, x - W // 8) : x + W // 8 + 1]
    c = patch.reshape(-1, 3).mean(0).astype(np.float32) / 255.0
    c = c / max(float(c.max()), 1e-3)
    return (0.2 + 0.22 * c).astype(np.float32)


def _bbox(mask: npt.NDArray[np.bool_]) -> tuple[int, int, int, int] | None:
    ys = np.nonzero(mask.any(axis=1))[0]
    xs = np.nonzero(mask.any(axis=0))[0]
    if ys.size == 0:
        return None
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def _apply_shadow(img: npt.NDArray[np.uint8], occ: F32, fill: F32) -> None:
    """Multiply the scene by the shadow's colour where the (reduced-size) occlusion map says so."""
    H, W = img.shape[:2]
    qh, qw = occ.shape
    box = _bbox(occ > 1.0 / 512)
    if box is None:
        return
    # Grow the box by a texel so the enlarged map has support at its edges.
    qx0, qy0, qx1, qy1 = max(box[0] - 1, 0), max(box[1] - 1, 0), min(box[2] + 1, qw), min(box[3] + 1, qh)
    x0, y0 = qx0 * W // qw, qy0 * H // qh
    x1, y1 = min(W, -(-qx1 * W // qw)), min(H, -(-qy1 * H // qh))
    # Map full-size pixel centres into the reduced map (same convention as cv2.resize).
    xs = ((np.arange(x0, x1, dtype=np.float32) + 0.5) * (qw / W) - 0.5)[None, :]
    ys = ((np.arange(y0, y1, dtype=np.float32) + 0.5) * (qh / H) - 0.5)[:, None]
    mx, my = np.broadcast_to(xs, (y1 - y0, x1 - x0)), np.broadcast_to(ys, (y1 - y0, x1 - x0))
    o = cv2.remap(occ, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    o = o[..., None]
    region = img[y0:y1, x0:x1].astype(np.float32)
    img[y0:y1, x0:x1] = cv2.convertScaleAbs(region * (1.0 - o + o * fill))


def _apply_reflection(img: npt.NDArray[np.uint8], placed: _Placed, catcher: F32 | None) -> None:
    """A faded mirror image of the product below its base, as on polished stone or a wet floor."""
    H = img.shape[0]
    rgba = placed.rgba
    local_base = placed.base_y - placed.y0
    ph = local_base + 1
    fade = max(4, round(0.42 * ph))
    rows = min(fade, H - placed.base_y - 1, local_base + 1)
    if rows <= 0:
        return
    src = rgba[local_base - rows + 1 : local_base + 1][::-1].astype(np.float32)
    d = np.arange(rows, dtype=np.float32)[:, None] / fade
    a = src[..., 3] / 255.0 * REFLECTION * (1.0 - d) ** 1.6
    prem = src[..., :3] * a[..., None]
    # Blurrier further from the base, as a real reflection on a not-quite-perfect surface.
    sigma = 0.006 * ph + 0.5
    prem = prem + (cv2.GaussianBlur(prem, (0, 0), sigmaX=sigma) - prem) * d[..., None]
    a = a + (cv2.GaussianBlur(a, (0, 0), sigmaX=sigma) - a) * d
    y0, x0 = placed.base_y + 1, placed.x0
    y1, x1 = y0 + rows, x0 + rgba.shape[1]
    if catcher is not None:
        k = catcher[y0:y1, x0:x1]
        a, prem = a * k, prem * k[..., None]
    region = img[y0:y1, x0:x1].astype(np.float32)
    img[y0:y1, x0:x1] = np.clip(region * (1.0 - a[..., None]) + prem + 0.5, 0, 255).astype(np.uint8)


def _paste(img: npt.NDArray[np.uint8], placed: _Placed) -> npt.NDArray[np.bool_]:
    """Copy the solid interior exactly, blend only the anti-aliased edge; returns the core mask."""
    h, w = placed.rgba.shape[:2]
    y0, x0 = placed.y0, placed.x0
    fg = placed.rgba
    a8 = fg[..., 3]
    roi = img[y0 : y0 + h, x0 : x0 + w]
    solid = a8 == 255
    np.copyto(roi, fg[..., :3], where=solid[..., None])
    edge = np.nonzero((a8 > 0) & ~solid)
    a = a8[edge][:, None].astype(np.float32) * np.float32(1.0 / 255.0)
    mixed = roi[edge].astype(np.float32) * (1.0 - a) + fg[edge][:, :3].astype(np.float32) * a + np.float32(0.5)
    roi[edge] = mixed.astype(np.uint8)
    core = np.zeros(img.shape[:2], bool)
    core[y0 : y0 + h, x0 : x0 + w] = cv2.erode(solid.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    return core


def run(inp: ComposeInput) -> ComposeOutput:
    """Place, shadow and paste the product. Raises InvalidInput for a malformed or empty product."""
    crop = _check(inp)
    sc = inp.scene
    H, W = sc.image.shape[:2]
    placed = _place(inp, crop)
    h, w = placed.rgba.shape[:2]
    layer = np.zeros((H, W, 4), np.uint8)
    layer[placed.y0 : placed.y0 + h, placed.x0 : placed.x0 + w] = placed.rgba
    alpha = layer[..., 3]
    img = sc.image.copy()
    _apply_shadow(img, _shadow_map(sc, alpha, placed), _fill_colour(sc))
    if sc.surface == "glossy":
        _apply_reflection(img, placed, sc.shadow_catcher)
    core = _paste(img, placed)
    box = _bbox(placed.rgba[..., 3] > 0)
    assert box is not None  # _check refused an empty alpha
    bx0, by0, bx1, by1 = box
    return ComposeOutput(
        image=img,
        product_layer=layer,
        core_mask=core,
        product_mask=alpha >= 128,
        product_bbox=(bx0 + placed.x0, by0 + placed.y0, bx1 + placed.x0, by1 + placed.y0),
        scale=placed.scale,
    )
