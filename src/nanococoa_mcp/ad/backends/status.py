"""Which stage backends this machine can run, and for each one that it cannot, exactly why.

Checked without importing torch (the embedded server never loads it): packages by import spec,
weights by looking for their files offline, the LLM by its configuration.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.backends.models import resolve_model_dir
from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.settings import Settings


class BackendStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str = Field(description="cutout, scene, layout or copy.")
    backend: str
    configured: bool = Field(description="The backend this stage is set to use (NANOCOCOA_<STAGE>_BACKEND).")
    usable: bool
    reason: str | None = Field(description="Why it cannot run here, and what would fix it; null when usable.")


def _missing_packages(*names: str) -> str | None:
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        return f"missing Python packages {', '.join(missing)}: pip install 'nanococoa-mcp[gpu]'"
    return None


def _weights(model: str, needs: tuple[str, ...]) -> Callable[[Settings], str | None]:
    def check(settings: Settings) -> str | None:
        try:
            resolve_model_dir(getattr(settings, model), settings, needs)
        except BackendUnavailable as exc:
            return f"{exc.message}; {exc.accepted}"
        return None

    return check


def _model(packages: tuple[str, ...], weights: Callable[[Settings], str | None]) -> Callable[[Settings], str | None]:
    def check(settings: Settings) -> str | None:
        return _missing_packages(*packages) or weights(settings)

    return check


def _llm(settings: Settings) -> str | None:
    if _missing_packages("openai"):
        return _missing_packages("openai")
    if not settings.llm_base_url and not settings.llm_api_key:
        return "no LLM endpoint: set NANOCOCOA_LLM_BASE_URL (and OPENAI_API_KEY / NANOCOCOA_LLM_MODEL)"
    return None


_CHECKS: dict[tuple[str, str], Callable[[Settings], str | None]] = {
    ("cutout", "studio"): lambda _s: None,
    ("cutout", "birefnet"): _model(
        ("torch", "torchvision", "transformers"), _weights("birefnet_model", ("config.json",))
    ),
    ("scene", "studio"): lambda _s: None,
    ("scene", "flux"): _model(("torch", "diffusers", "transformers"), _weights("flux_model", ("model_index.json",))),
    ("layout", "studio"): lambda _s: None,
    ("layout", "qwen"): _model(("torch", "torchvision", "transformers"), _weights("qwen_model", ("config.json",))),
    ("copy", "template"): lambda _s: None,
    ("copy", "llm"): _llm,
}


def backend_report(settings: Settings) -> list[BackendStatus]:
    """Every known backend of every stage, the configured ones marked."""
    configured = {
        "cutout": settings.cutout_backend,
        "scene": settings.scene_backend,
        "layout": settings.layout_backend,
        "copy": settings.copy_backend,
    }
    out = []
    for (stage, backend), check in _CHECKS.items():
        reason = check(settings)
        out.append(
            BackendStatus(
                stage=stage,
                backend=backend,
                configured=configured[stage] == backend,
                usable=reason is None,
                reason=reason,
            )
        )
    for stage, backend in configured.items():
        if (stage, backend) not in _CHECKS:
            known = ", ".join(b for s, b in _CHECKS if s == stage)
            out.append(
                BackendStatus(
                    stage=stage,
                    backend=backend,
                    configured=True,
                    usable=False,
                    reason=f"unknown {stage} backend; known: {known}",
                )
            )
    return out
