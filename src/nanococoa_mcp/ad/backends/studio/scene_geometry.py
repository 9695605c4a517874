"""Where things sit in a studio scene (at work resolution): seam, eye level, stage, and the floor's
perspective mapping from pixels to floor coordinates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nanococoa_mcp.ad.backends.studio.scene_noise import F32

STAGE_DEPTH = 0.66  # the product stands this far from the seam toward the frame's bottom edge


@dataclass(frozen=True, slots=True)
class Geometry:
    w: int
    h: int
    horizon: float  # wall/floor seam, px
    eye: float  # eye level (the floor's vanishing line), px, above the seam
    focal: float  # px
    stage_x: float
    stage_y: float

    def floor_coords(self, y0: int) -> tuple[F32, F32, F32]:
        """Floor coordinates of rows y0..h: lateral u and depth d (camera heights), and y - eye."""
        ys = np.arange(y0, self.h, dtype=np.float32)[:, None] + 0.5
        xs = np.arange(self.w, dtype=np.float32)[None, :] + 0.5
        dy = np.maximum(ys - self.eye, 1.0).astype(np.float32)
        u = ((xs - self.w / 2.0) / dy).astype(np.float32)
        d = np.broadcast_to(self.focal / dy, (ys.shape[0], self.w)).astype(np.float32)
        return u, d, np.broadcast_to(dy, u.shape).astype(np.float32)

    @property
    def front_width(self) -> float:
        """Width of the frame's bottom row in floor units (camera heights)."""
        return self.w / max(self.h - self.eye, 1.0)


def make(w: int, h: int, horizon_frac: float, anchor_x: float) -> Geometry:
    horizon = horizon_frac * h
    floor_h = h - horizon
    # Eye level a little above the seam: a tabletop seen from slightly above, planks converging gently.
    eye = horizon - 0.65 * floor_h
    return Geometry(
        w=w,
        h=h,
        horizon=horizon,
        eye=eye,
        focal=1.15 * max(w, 0.8 * h),
        stage_x=anchor_x * w,
        stage_y=horizon + STAGE_DEPTH * floor_h,
    )
