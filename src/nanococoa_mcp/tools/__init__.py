"""The tool registry: the single source every door (MCP, CLI, later REST and the homepage agent) calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nanococoa_mcp.tools.ads import generate_ad_image
from nanococoa_mcp.tools.catalog import list_fonts, list_styles
from nanococoa_mcp.tools.images import analyze_layout, remove_background


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    fn: Callable[..., Any]
    title: str
    read_only: bool
    idempotent: bool
    makes_images: bool


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "generate_ad_image",
        generate_ad_image,
        "Generate a Korean product ad",
        read_only=False,
        idempotent=False,
        makes_images=True,
    ),
    ToolSpec(
        "remove_background",
        remove_background,
        "Cut a product out of its photo",
        read_only=False,
        idempotent=False,
        makes_images=True,
    ),
    ToolSpec(
        "analyze_layout",
        analyze_layout,
        "Analyse an image for copy placement",
        read_only=True,
        idempotent=True,
        makes_images=False,
    ),
    ToolSpec("list_fonts", list_fonts, "List Korean fonts", read_only=True, idempotent=True, makes_images=False),
    ToolSpec(
        "list_styles",
        list_styles,
        "List scene styles, text styles and sizes",
        read_only=True,
        idempotent=True,
        makes_images=False,
    ),
)

__all__ = ["TOOLS", "ToolSpec", "analyze_layout", "generate_ad_image", "list_fonts", "list_styles", "remove_background"]
