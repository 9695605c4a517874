"""Model lifecycle for the GPU backends (BiRefNet, FLUX, Qwen2-VL): where weights are, when they load,
when they go.

- Weights are found offline: `<NANOCOCOA_MODELS_DIR>/<repo id or its last part>` first, then the
  Hugging Face cache (`HF_HUB_CACHE` / `HF_HOME`), never the network. A missing model names the
  files it needs and the command that fetches them.
- Models load on first use (JIT) and stay warm in the worker; loading one that does not fit the VRAM
  budget unloads the least recently used others first (the seed unloads FLUX before Qwen on an L4).
- A CUDA out-of-memory error frees what can be freed and retries once (the caller picks the cheaper
  second attempt); a second failure is a typed BackendUnavailable.

Nothing here imports torch at module import: the embedded engine must never load it.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    return home / "hub"


def resolve_model_dir(model: str, settings: Settings, needs: tuple[str, ...] = ("config.json",)) -> Path:
    """The local directory holding `model` (a path, or a repo id looked up offline). Raises
    BackendUnavailable naming what is missing and how to get it."""
    candidates: list[Path] = []
    as_path = Path(model).expanduser()
    if as_path.is_absolute() or model.startswith("."):
        candidates.append(as_path)
    if settings.models_dir is not None:
        candidates += [settings.models_dir / model, settings.models_dir / model.split("/")[-1]]
    snapshots = hf_cache_dir() / f"models--{model.replace('/', '--')}" / "snapshots"
    if snapshots.is_dir():
        ref = snapshots.parent / "refs" / "main"
        if ref.is_file() and (snapshots / ref.read_text().strip()).is_dir():
            candidates.append(snapshots / ref.read_text().strip())
        candidates += sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in candidates:
        if path.is_dir() and all((path / n).exists() for n in needs):
            return path
    looked = ", ".join(str(c) for c in candidates) or f"{snapshots}"
    raise BackendUnavailable(
        f"the model {model} is not on this machine (looked in {looked}; needs {', '.join(needs)})",
        field="model",
        accepted=(
            f"`huggingface-cli download {model}` on a machine with network, then copy the HF cache here "
            "(HF_HOME), or put the files in NANOCOCOA_MODELS_DIR/" + model.split("/")[-1]
        ),
    )


def torch_device(settings: Settings) -> str:
    import torch

    if settings.device != "auto":
        return settings.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def is_oom(exc: BaseException) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - only called where torch runs
        return False
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


@dataclass(slots=True)
class _Loaded:
    value: Any
    vram_gb: float
    unload: Callable[[Any], None] | None
    loaded_at: float


class ModelManager:
    """Loaded models by key, least recently used first. Thread-safe; one per worker process."""

    def __init__(self, budget_gb: float | None = None) -> None:
        self.budget_gb = budget_gb
        self._models: OrderedDict[str, _Loaded] = OrderedDict()
        self._lock = threading.RLock()
        self.loads: dict[str, int] = {}  # key -> times loaded (tests and the bench read it)

    def get(
        self,
        key: str,
        loader: Callable[[], T],
        *,
        vram_gb: float = 0.0,
        unload: Callable[[T], None] | None = None,
    ) -> T:
        """The model under `key`, loading it with `loader()` the first time (after making room)."""
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key].value  # type: ignore[no-any-return,unused-ignore]
            self._make_room(vram_gb)
            started = time.perf_counter()
            value = loader()
            log.info("loaded %s in %.1f s", key, time.perf_counter() - started)
            self._models[key] = _Loaded(value, vram_gb, unload, time.time())  # type: ignore[arg-type,unused-ignore]
            self.loads[key] = self.loads.get(key, 0) + 1
            return value

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._models)

    def unload(self, key: str) -> None:
        with self._lock:
            entry = self._models.pop(key, None)
        if entry is not None:
            if entry.unload is not None:
                entry.unload(entry.value)
            del entry
            free_memory()
            log.info("unloaded %s", key)

    def unload_all(self) -> None:
        for key in self.loaded():
            self.unload(key)

    def _make_room(self, vram_gb: float) -> None:
        if self.budget_gb is None:
            return
        while self._models and sum(m.vram_gb for m in self._models.values()) + vram_gb > self.budget_gb:
            oldest = next(iter(self._models))
            self.unload(oldest)

    def run(self, fn: Callable[[], T], *, retry: Callable[[], T] | None = None, what: str = "the model") -> T:
        """Run `fn`; on CUDA OOM unload every model, free memory and run `retry` (or `fn`) once more."""
        try:
            return fn()
        except Exception as exc:
            if not is_oom(exc):
                raise
            log.warning("out of GPU memory in %s; unloading models and retrying once", what)
        self.unload_all()
        try:
            return (retry or fn)()
        except Exception as exc:
            if not is_oom(exc):
                raise
            free_memory()
            raise BackendUnavailable(
                f"{what} ran out of GPU memory twice",
                field="device",
                accepted="a GPU with more free memory, NANOCOCOA_VRAM_BUDGET_GB, or a smaller size",
            ) from exc


_manager: ModelManager | None = None
_manager_lock = threading.Lock()


def get_manager(settings: Settings) -> ModelManager:
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = ModelManager(settings.vram_budget_gb)
        return _manager
