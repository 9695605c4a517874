"""Catalogue tools: the fonts, scene styles, text styles and sizes a request may name."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.catalog import fonts as fonts_mod
from nanococoa_mcp.ad.catalog.sizes import DEFAULT_SIZE, SIZES
from nanococoa_mcp.ad.catalog.styles import list_styles as scene_styles
from nanococoa_mcp.ad.catalog.text_styles import STYLES as TEXT_STYLES


class FontList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fonts: list[fonts_mod.FontInfo]


class StyleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name_ko: str
    name_en: str
    aliases: list[str]
    description: str


class SizeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    width: int
    height: int
    description: str


class StyleCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scene_styles: list[StyleEntry] = Field(description="Values accepted by `style`.")
    text_styles: list[StyleEntry] = Field(description="Values accepted by `text_style`.")
    sizes: list[SizeEntry] = Field(description="Values accepted by `size`.")
    defaults: dict[str, str] = Field(
        description="What a request that names none gets; auto: chosen from the copy and the product's colours."
    )


async def list_fonts() -> FontList:
    """List the Korean fonts the studio typesets with, whether each is installed, and its Hangul coverage."""
    return FontList(fonts=fonts_mod.list_fonts())


async def list_styles() -> StyleCatalog:
    """List the scene styles, text styles and size presets, with their Korean and English names."""
    return StyleCatalog(
        scene_styles=[
            StyleEntry(
                id=s.id, name_ko=s.name_ko, name_en=s.name_en, aliases=list(s.aliases), description=s.description
            )
            for s in scene_styles()
        ],
        text_styles=[
            StyleEntry(
                id=s.id, name_ko=s.name_ko, name_en=s.name_en, aliases=list(s.aliases), description=s.description
            )
            for s in TEXT_STYLES
        ],
        sizes=[SizeEntry(id=p.id, width=p.width, height=p.height, description=p.description) for p in SIZES.values()],
        defaults={"style": "auto", "text_style": "auto", "size": DEFAULT_SIZE},
    )
