"""The one list of stage backends: each registered once with its stage, name, code and what it needs.

The stages dispatch through it, settings refuse a backend name it does not list, and `nanococoa doctor`
and the server_health tool report from it. A backend's code is named by import path and imported only
when it first runs, so reading the registry never loads torch; what a backend needs (Python packages,
checkpoint files, an LLM endpoint) is checked without importing it, against the files its loader reads.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.backends.models import (
    Weights,
    locate,
    pipeline_files,
    remote_code_files,
    unavailable,
    vision_language_files,
)
from nanococoa_mcp.errors import BackendUnavailable, InvalidInput
from nanococoa_mcp.llm import configured as llm_configured
from nanococoa_mcp.settings import Settings

Stage = Literal["cutout", "scene", "layout", "copy"]
STAGES: tuple[Stage, ...] = ("cutout", "scene", "layout", "copy")
GPU_EXTRA = "pip install 'nanococoa-mcp[gpu]'"
NO_ENDPOINT = "no LLM endpoint: set NANOCOCOA_LLM_BASE_URL (and OPENAI_API_KEY / NANOCOCOA_LLM_MODEL)"


@dataclass(frozen=True, slots=True)
class BackendSpec:
    stage: Stage
    name: str
    target: str  # "package.module:function": the backend's entry point, imported when it first runs
    embedded: bool = False  # the stage's default and its fallback: runs on the CPU with nothing to fetch
    packages: tuple[str, ...] = ()  # import names of the Python packages it needs
    install: str = GPU_EXTRA  # how to get those packages
    weights: Weights | None = None  # the checkpoint files its loader reads
    endpoint: bool = False  # it calls the configured OpenAI-compatible endpoint


BIREFNET_WEIGHTS = Weights("birefnet_model", ("config.json", "model.safetensors"), remote_code_files)
FLUX_WEIGHTS = Weights("flux_model", ("model_index.json", "transformer/config.json", "vae/config.json"), pipeline_files)
QWEN_WEIGHTS = Weights("qwen_model", ("config.json",), vision_language_files)

SPECS: tuple[BackendSpec, ...] = (
    BackendSpec("cutout", "studio", "nanococoa_mcp.ad.backends.studio.cutout:cut_out", embedded=True),
    BackendSpec(
        "cutout",
        "birefnet",
        "nanococoa_mcp.ad.backends.birefnet:cut_out",
        # timm, einops and kornia are imported by the official checkpoint's own code.
        packages=("torch", "torchvision", "transformers", "safetensors", "timm", "einops", "kornia"),
        weights=BIREFNET_WEIGHTS,
    ),
    BackendSpec("scene", "studio", "nanococoa_mcp.ad.backends.studio.scene:render", embedded=True),
    BackendSpec(
        "scene",
        "flux",
        "nanococoa_mcp.ad.backends.flux:repaint",
        packages=("torch", "diffusers", "transformers", "accelerate", "safetensors"),
        weights=FLUX_WEIGHTS,
    ),
    BackendSpec("layout", "studio", "nanococoa_mcp.ad.backends.studio.layout:analyse", embedded=True),
    BackendSpec(
        "layout",
        "qwen",
        "nanococoa_mcp.ad.backends.qwen:analyse",
        packages=("torch", "torchvision", "transformers", "safetensors"),
        weights=QWEN_WEIGHTS,
    ),
    BackendSpec("copy", "template", "nanococoa_mcp.ad.backends.studio.copy:design", embedded=True),
    BackendSpec(
        "copy",
        "llm",
        "nanococoa_mcp.ad.backends.llm_copy:design",
        packages=("openai",),
        install="pip install nanococoa-mcp (openai is one of its dependencies)",
        endpoint=True,
    ),
)


def names(stage: Stage) -> tuple[str, ...]:
    """The backends `stage` can run, its embedded one first."""
    return tuple(s.name for s in SPECS if s.stage == stage)


def get(stage: Stage, name: str) -> BackendSpec:
    """The registered backend. Raises InvalidInput listing the stage's backends when there is none."""
    for spec in SPECS:
        if spec.stage == stage and spec.name == name:
            return spec
    raise InvalidInput(f"unknown {stage} backend {name!r}", field=f"{stage}_backend", accepted=", ".join(names(stage)))


def check_settings(settings: Settings) -> None:
    """Refuse settings that name a backend the registry does not list (the composition root and the CLI call
    this at start, before anything runs). Raises InvalidInput naming the variable and the registered names."""
    for stage in STAGES:
        name = getattr(settings, f"{stage}_backend")
        if name not in names(stage):
            raise InvalidInput(
                f"unknown {stage} backend {name!r}",
                field=f"NANOCOCOA_{stage.upper()}_BACKEND",
                accepted=f"the registered ones: {', '.join(names(stage))}",
            )


def embedded(stage: Stage) -> BackendSpec:
    """The stage's embedded backend: its default, and what it falls back to."""
    return next(s for s in SPECS if s.stage == stage and s.embedded)


def load(spec: BackendSpec) -> Callable[..., Any]:
    """The backend's entry point, its module imported now (the first time). Each stage states the
    signature its backends share."""
    module, _, attr = spec.target.partition(":")
    entry: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return entry


def fallback_reason(spec: BackendSpec, exc: BackendUnavailable) -> str:
    """Why the backend's result was not used, for the report: '<backend>: <what went wrong> (<the fix>);
    used <the embedded backend>'."""
    fix = f" ({exc.accepted})" if exc.accepted else ""
    return f"{spec.name}: {exc.message}{fix}; used {embedded(spec.stage).name} instead"


class BackendStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str = Field(description="cutout, scene, layout or copy.")
    backend: str
    configured: bool = Field(description="The backend this stage is set to use (NANOCOCOA_<STAGE>_BACKEND).")
    usable: bool
    missing: list[str] = Field(
        default_factory=list,
        description="What it lacks here: Python packages, checkpoint files (their paths), an LLM endpoint.",
    )
    reason: str | None = Field(description="Why it cannot run here, and what would fix it; null when usable.")


def check(spec: BackendSpec, settings: Settings) -> BackendStatus:
    """Whether the backend can run on this machine: its packages importable (looked up, not imported), the
    checkpoint files its loader reads present, its endpoint configured."""
    missing: list[str] = []
    reasons: list[str] = []
    absent = [p for p in spec.packages if importlib.util.find_spec(p) is None]
    if absent:
        missing += [f"Python package {p}" for p in absent]
        reasons.append(f"missing Python packages {', '.join(absent)}: {spec.install}")
    if spec.weights is not None:
        found = locate(spec.weights, settings)
        if found.missing:
            missing += found.missing
            exc = unavailable(found, spec.weights)
            reasons.append(f"{exc.message}; {exc.accepted}")
    if spec.endpoint and not llm_configured(settings):
        missing.append("an LLM endpoint (NANOCOCOA_LLM_BASE_URL or OPENAI_API_KEY)")
        reasons.append(NO_ENDPOINT)
    return BackendStatus(
        stage=spec.stage,
        backend=spec.name,
        configured=getattr(settings, f"{spec.stage}_backend") == spec.name,
        usable=not missing,
        missing=missing,
        reason="; ".join(reasons) or None,
    )


def require(spec: BackendSpec, settings: Settings) -> None:
    """Raises BackendUnavailable saying what the backend lacks here, before anything of it is imported: a
    stage calls this first, so a backend without its weights never loads torch to find out."""
    status = check(spec, settings)
    if not status.usable:
        raise BackendUnavailable(status.reason or "cannot run here", field=f"{spec.stage}_backend")


def backend_report(settings: Settings) -> list[BackendStatus]:
    """Every registered backend of every stage, in registry order, the configured ones marked."""
    return [check(spec, settings) for spec in SPECS]
