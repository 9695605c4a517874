"""Output size presets and their safe areas (where copy may sit without being cropped by feeds)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.catalog.lookup import NameLookup


class SizePreset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    width: int
    height: int
    description: str
    aliases: tuple[str, ...] = Field(default=(), description="Other names a request may use (Korean, English).")
    # Safe-area margins as fractions of the width (left/right) and height (top/bottom).
    safe_x: float = Field(default=0.06)
    safe_top: float = Field(default=0.05)
    safe_bottom: float = Field(default=0.05)

    def safe_box(self) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 (exclusive) of the safe area."""
        return (
            round(self.width * self.safe_x),
            round(self.height * self.safe_top),
            self.width - round(self.width * self.safe_x),
            self.height - round(self.height * self.safe_bottom),
        )


SIZES: dict[str, SizePreset] = {
    p.id: p
    for p in (
        SizePreset(
            id="1:1",
            width=1080,
            height=1080,
            description="Instagram / Kakao square feed",
            aliases=("square", "square feed", "정사각형", "정사각 피드"),
        ),
        SizePreset(
            id="4:5",
            width=1080,
            height=1350,
            description="Instagram portrait feed (default)",
            aliases=("portrait", "portrait feed", "세로형", "세로 피드"),
        ),
        # Stories: the top ~14% and bottom ~18% sit under the app's own controls.
        SizePreset(
            id="9:16",
            width=1080,
            height=1920,
            description="Stories / Reels / Shorts",
            aliases=("story", "stories", "reels", "shorts", "스토리", "릴스"),
            safe_top=0.14,
            safe_bottom=0.18,
        ),
        SizePreset(
            id="seed",
            width=800,
            height=1200,
            description="The seed system's 800×1200 canvas",
            aliases=("seed canvas", "시드 캔버스"),
        ),
        SizePreset(
            id="banner",
            width=1200,
            height=628,
            description="Link / Naver / Facebook banner (1.91:1)",
            aliases=("link banner", "배너", "링크 배너"),
            safe_x=0.05,
            safe_top=0.07,
            safe_bottom=0.07,
        ),
    )
}

DEFAULT_SIZE = "4:5"


def _names(p: SizePreset) -> tuple[str, ...]:
    """Its id, its aliases, and the ratio or pixel size written with ":", "x" or "×"."""
    spelled = (p.id, f"{p.width}:{p.height}")
    return (*spelled, *p.aliases, *(n.replace(":", sep) for n in spelled for sep in ("x", "×")))


LOOKUP = NameLookup(
    ((p, _names(p)) for p in SIZES.values()),
    what="size",
    field="size",
    accepted=", ".join(f"{p.id} ({p.width}×{p.height})" for p in SIZES.values()),
)


def resolve_size(name: str) -> SizePreset:
    """The preset for an id, alias or pixel size (spelled as `lookup.fold` allows); raises InvalidInput
    listing the presets when unknown."""
    return LOOKUP.resolve(name)
