"""The tool registry: the single source every door (MCP, CLI, REST and the homepage agent) calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nanococoa_mcp.tools.ads import check_generation_status, generate_ad_image, list_jobs, stop_generation
from nanococoa_mcp.tools.catalog import list_fonts, list_styles
from nanococoa_mcp.tools.homepage import generate_homepage
from nanococoa_mcp.tools.images import analyze_layout, remove_background
from nanococoa_mcp.tools.stores import create_store, get_store, list_stores, update_store
from nanococoa_mcp.tools.system import server_health


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    fn: Callable[..., Any]
    title: str
    read_only: bool
    idempotent: bool
    makes_images: bool
    destructive: bool = False


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
        "check_generation_status",
        check_generation_status,
        "Check an ad or homepage job",
        read_only=True,
        idempotent=True,
        makes_images=True,
    ),
    ToolSpec(
        "stop_generation",
        stop_generation,
        "Stop an ad or homepage job",
        read_only=False,
        idempotent=True,
        makes_images=False,
        destructive=True,  # the job's unfinished work is discarded
    ),
    ToolSpec("list_jobs", list_jobs, "List ad and homepage jobs", read_only=True, idempotent=True, makes_images=False),
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
    ToolSpec(
        "server_health", server_health, "Studio health", read_only=True, idempotent=True, makes_images=False
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
    ToolSpec("create_store", create_store, "Save a shop", read_only=False, idempotent=False, makes_images=False),
    ToolSpec("get_store", get_store, "Show a shop", read_only=True, idempotent=True, makes_images=False),
    ToolSpec("list_stores", list_stores, "List shops", read_only=True, idempotent=True, makes_images=False),
    ToolSpec(
        "update_store",
        update_store,
        "Change a shop",
        read_only=False,
        idempotent=True,
        makes_images=False,
        destructive=True,  # overwrites fields; given photos replace the old ones
    ),
    ToolSpec(
        "generate_homepage",
        generate_homepage,
        "Build a shop's website",
        read_only=False,
        idempotent=False,
        makes_images=False,
    ),
)

__all__ = [
    "TOOLS",
    "ToolSpec",
    "analyze_layout",
    "check_generation_status",
    "create_store",
    "generate_ad_image",
    "generate_homepage",
    "get_store",
    "list_fonts",
    "list_jobs",
    "list_stores",
    "list_styles",
    "remove_background",
    "server_health",
    "stop_generation",
    "update_store",
]
