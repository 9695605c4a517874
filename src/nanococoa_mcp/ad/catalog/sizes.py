"""Output size presets and their safe areas (where copy may sit without being cropped by feeds)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.errors import InvalidInput


class SizePreset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    width: int
    height: int
    description: str
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
        SizePreset(id="1:1", width=1080, height=1080, description="Instagram / Kakao square feed"),
        SizePreset(id="4:5", width=1080, height=1350, description="Instagram portrait feed (default)"),
        # Stories: the top ~14% and bottom ~18% sit under the app's own controls.
        SizePreset(
            id="9:16",
            width=1080,
            height=1920,
            description="Stories / Reels / Shorts",
            safe_top=0.14,
            safe_bottom=0.18,
        ),
        SizePreset(id="seed", width=800, height=1200, description="The seed system's 800×1200 canvas"),
        SizePreset(
            id="banner",
            width=1200,
            height=628,
            description="Link / Naver / Facebook banner (1.91:1)",
            safe_x=0.05,
            safe_top=0.07,
            safe_bottom=0.07,
        ),
    )
}

DEFAULT_SIZE = "4:5"


def resolve_size(name: str) -> SizePreset:
    """The preset for `name`; raises InvalidInput listing the presets when unknown."""
    key = name.strip().lower().replace("x", ":") if name else ""
    aliases = {"square": "1:1", "portrait": "4:5", "story": "9:16", "stories": "9:16", "800:1200": "seed"}
    key = aliases.get(key, key)
    if key in SIZES:
        return SIZES[key]
    raise InvalidInput(
        f"unknown size {name!r}",
        field="size",
        accepted=", ".join(f"{p.id} ({p.width}×{p.height})" for p in SIZES.values()),
    )
