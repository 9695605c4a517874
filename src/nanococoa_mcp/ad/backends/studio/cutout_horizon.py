"""Where a wall meets a table, for the studio cut-out's backdrop (cutout_backdrop): a photo of things on a
table seen before a wall shows the two surfaces meeting along a line across the frame, and each pixel is
judged against the surface behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
Votes = npt.NDArray[np.int64]

HORIZON_BAND = 0.02   # share of the short side: the side bands of the frame the horizon is read from
HORIZON_CONTRAST = 12.0  # least colour difference (0..255 units) between a side band's top fifth and its foot
HORIZON_CLEAR = 0.6   # a row votes for the wall (table) when this much nearer its side's top (foot) colour
HORIZON_AGREE = 0.8   # share of a side's voting rows on the right side of its step
HORIZON_STEP = 0.5    # share of the top-to-bottom colour difference a side changes by across its step ...
HORIZON_NEAR = 0.04   # ... within this share of the height on either side of it
HORIZON_TILT = 0.12   # share of the height the two sides' steps may differ by
HORIZON_ABOVE = 0.1   # share of the height above a hidden stretch of a side searched for its step


@dataclass(frozen=True, slots=True)
class Horizon:
    """Where a wall meets a table: the row (working copy) it crosses the frame's left and right edges at."""

    left: float
    right: float

    def offset(self, h: int, w: int) -> FloatArray:
        """Each pixel's signed distance in rows from the line (positive below it, on the table)."""
        x = np.arange(w, dtype=np.float32) / max(1, w - 1)
        line = self.left + (self.right - self.left) * x
        return np.asarray(np.arange(h, dtype=np.float32)[:, None] - line[None, :], np.float32)


def find_horizon(img: FloatArray) -> Horizon | None:
    """The wall/table boundary, when the frame shows one: the side bands of the frame step, at about the
    same height, from the colour at their top to that at their foot, within a few rows (a sweep's light
    falling off changes as much, but over the whole height). Things may hide part of a side (a person
    behind, a thing on the table): rows coloured like neither end do not vote; a side hidden where its
    votes change is looked at a little higher for its step (_sharpest), and where it is hidden still, the
    line runs level from the other side. None when neither side shows a clear step, or the sides disagree."""
    h, w = img.shape[:2]
    band = max(2, round(HORIZON_BAND * min(h, w)))
    sides = [np.median(side, axis=1) for side in (img[:, :band], img[:, -band:])]
    maybe = [_votes(rows) for rows in sides]
    votes = [v for v in maybe if v is not None]
    if len(votes) < 2:
        return None
    # Rows above the step should vote +1 (wall), rows below -1 (table): each side's score for a step at y.
    signs = [np.where(v == 2, 0, v) for v in votes]
    left_score, right_score = ((2 * np.cumsum(v) - v.sum()).astype(np.float64) for v in signs)
    tilt = max(1, round(HORIZON_TILT * h))
    padded = np.pad(right_score, tilt, constant_values=-np.inf)
    best_right = np.lib.stride_tricks.sliding_window_view(padded, 2 * tilt + 1).max(axis=1)
    inside = np.zeros(h, bool)
    inside[round(0.05 * h):round(0.95 * h)] = True
    left = int(np.argmax(np.where(inside, left_score + best_right, -np.inf)))
    lo = max(0, left - tilt)
    right = lo + int(np.argmax(right_score[lo:left + tilt + 1]))
    ys = [left + 1, right + 1]  # the first table row
    agree = [_agreement(v, y) for v, y in zip(votes, ys, strict=True)]
    stepped = [_steps(rows, v, y) for rows, v, y in zip(sides, votes, ys, strict=True)]
    for k, (rows, v, y) in enumerate(zip(sides, votes, ys, strict=True)):
        if stepped[k] is None:
            # Hidden where its votes change: a table lit paler towards the wall votes with the wall up to the
            # things standing on it, and the step may lie above them.
            above = _sharpest(rows, v, y)
            if above is not None and _steps(rows, v, above) is True:
                ys[k], stepped[k] = above, True
    if min(agree) < HORIZON_AGREE or not any(s is True for s in stepped) or any(s is False for s in stepped):
        return None
    if stepped[0] is None:
        ys[0] = ys[1]
    if stepped[1] is None:
        ys[1] = ys[0]
    return Horizon(float(ys[0]), float(ys[1]))


def _sharpest(rows: FloatArray, votes: Votes, y: int) -> int | None:
    """The row within HORIZON_ABOVE of the height above row y where the side band steps most towards its
    foot's colour, with nothing hiding it within HORIZON_NEAR, or None when there is none."""
    h = rows.shape[0]
    near = max(3, round(HORIZON_NEAR * h))
    gap = max(1, near // 4)
    first = max(near, y - round(HORIZON_ABOVE * h))
    if first >= y:
        return None
    axis = np.median(rows[-(h // 5):], axis=0) - np.median(rows[:h // 5], axis=0)
    steps = [float((np.median(rows[r + gap:r + near], axis=0) - np.median(rows[r - near:r - gap], axis=0)) @ axis)
             if not (votes[r - near:r + near] == 2).any() else -np.inf for r in range(first, y)]
    best = int(np.argmax(steps))
    return first + best if np.isfinite(steps[best]) else None


def _votes(rows: FloatArray) -> Votes | None:
    """Per row of a side band (its per-row median colours): +1 when clearly coloured like the side's top
    fifth, -1 like its foot, 2 unlike either (something in front of the side), 0 in between; None when
    the two ends look alike."""
    h = rows.shape[0]
    top, bottom = np.median(rows[:h // 5], axis=0), np.median(rows[-(h // 5):], axis=0)
    size = float(np.linalg.norm(bottom - top))
    if size < HORIZON_CONTRAST:
        return None
    to_top = np.linalg.norm(rows - top, axis=1)
    to_bottom = np.linalg.norm(rows - bottom, axis=1)
    vote = np.where((to_top < HORIZON_CLEAR * to_bottom) & (to_top < size), 1,
                    np.where((to_bottom < HORIZON_CLEAR * to_top) & (to_bottom < size), -1, 0))
    return np.where(np.minimum(to_top, to_bottom) >= size, 2, vote).astype(np.int64)


def _agreement(votes: Votes, y: int) -> float:
    """Share of a side's voting rows on the right side of a step at row y (1 when none vote)."""
    counted = int(np.count_nonzero(np.abs(votes) == 1))
    right = int(np.count_nonzero(votes[:y] == 1)) + int(np.count_nonzero(votes[y:] == -1))
    return right / counted if counted else 1.0


def _steps(rows: FloatArray, votes: Votes, y: int) -> bool | None:
    """Whether a side band steps at row y from its top's colour to its foot's within HORIZON_NEAR of the
    height (True), does not (False), or is hidden there (None: most rows on either side of y are coloured
    like neither end)."""
    h = rows.shape[0]
    near = max(3, round(HORIZON_NEAR * h))
    gap = max(1, near // 4)
    a, b = slice(max(0, y - near), max(1, y - gap)), slice(min(h - 1, y + gap), min(h, y + near))
    if np.mean(votes[a] == 2) > 0.5 or np.mean(votes[b] == 2) > 0.5:
        return None
    top, bottom = np.median(rows[:h // 5], axis=0), np.median(rows[-(h // 5):], axis=0)
    axis = bottom - top
    step = np.median(rows[b], axis=0) - np.median(rows[a], axis=0)
    return bool(float(step @ axis) >= HORIZON_STEP * float(axis @ axis))
