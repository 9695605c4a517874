"""Model lifecycle for the GPU backends (BiRefNet, FLUX, Qwen2-VL): where weights are, when they load,
when they go.

- Weights are found offline: `<NANOCOCOA_MODELS_DIR>/<repo id or its last part>` first, then the
  Hugging Face cache (`HF_HUB_CACHE` / `HF_HOME`), never the network. The files a loader reads are
  stated once (`Weights`, one per backend in the registry) and checked before it loads: a missing model
  names the files it lacks and the command that fetches them, and health checks the same files.
- Models load on first use (JIT) and stay warm in the worker; loading one that does not fit the VRAM
  budget unloads the least recently used others first (the seed unloads FLUX before Qwen on an L4).
- A CUDA out-of-memory error frees what can be freed and retries once (the caller picks the cheaper
  second attempt); a second failure is a typed BackendUnavailable.

Nothing here imports torch at module import: the embedded engine must never load it.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
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


@dataclass(frozen=True, slots=True)
class Weights:
    """The files a model backend's loader reads from its checkpoint folder (paths relative to it)."""

    setting: str  # the Settings field naming the checkpoint: a hub repo id or a path
    files: tuple[str, ...]  # files every copy has
    # Files named by those (code files, weight shards, pipeline components), read from a copy's folder.
    named: Callable[[Path], tuple[str, ...]] | None = None

    def required(self, folder: Path) -> tuple[str, ...]:
        return self.files + (self.named(folder) if self.named is not None else ())


@dataclass(frozen=True, slots=True)
class Located:
    """Where a checkpoint is on this machine, and what of it is missing."""

    model: str
    folder: Path | None  # the most complete copy found; None when there is none
    missing: tuple[str, ...]  # paths of the files the loader needs that are not there; () when complete
    looked: tuple[Path, ...]  # every folder looked in, preferred first


def _candidates(model: str, settings: Settings) -> list[Path]:
    """The folders `model` may be in, preferred first: itself when it is a path, NANOCOCOA_MODELS_DIR, then
    the HF cache's snapshots (the one refs/main points at, then the newest)."""
    candidates: list[Path] = []
    as_path = _as_path(model)
    if as_path is not None:
        candidates.append(as_path)
    if settings.models_dir is not None:
        candidates += [settings.models_dir / model, settings.models_dir / model.split("/")[-1]]
    snapshots = _hf_snapshots(model)
    if snapshots.is_dir():
        ref = snapshots.parent / "refs" / "main"
        if ref.is_file() and (snapshots / ref.read_text().strip()).is_dir():
            candidates.append(snapshots / ref.read_text().strip())
        candidates += sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    return list(dict.fromkeys(candidates))


def _as_path(model: str) -> Path | None:
    """The checkpoint's folder when `model` is a path rather than a hub repo id."""
    path = Path(model).expanduser()
    return path if path.is_absolute() or model.startswith(".") else None


def _hf_snapshots(model: str) -> Path:
    return hf_cache_dir() / f"models--{model.replace('/', '--')}" / "snapshots"


def locate(weights: Weights, settings: Settings) -> Located:
    """The first complete copy of the checkpoint `weights.setting` names, else the copy lacking the fewest
    files and which ones, else where it was looked for. Reads no weights and imports no ML package."""
    model = str(getattr(settings, weights.setting))
    looked = tuple(_candidates(model, settings))
    best: tuple[Path, tuple[str, ...]] | None = None
    for folder in looked:
        if not folder.is_dir():
            continue
        missing = tuple(str(folder / f) for f in weights.required(folder) if not (folder / f).exists())
        if not missing:
            return Located(model, folder, (), looked)
        if best is None or len(missing) < len(best[1]):
            best = (folder, missing)
    if best is not None:
        return Located(model, best[0], best[1], looked)
    # No copy at all: the files where the path given, or NANOCOCOA_MODELS_DIR/<its last part>, says they
    # belong; else the HF cache folder a download would create.
    home = _as_path(model) or (settings.models_dir / model.split("/")[-1] if settings.models_dir else None)
    missing = tuple(str(home / f) for f in weights.files) if home is not None else (str(_hf_snapshots(model).parent),)
    return Located(model, None, missing, looked or (_hf_snapshots(model),))


def find_checkpoint(weights: Weights, settings: Settings) -> Path:
    """The folder of a complete copy of the checkpoint, found offline. Raises BackendUnavailable naming the
    missing files and how to get them."""
    found = locate(weights, settings)
    if found.folder is None or found.missing:
        raise unavailable(found, weights)
    return found.folder


def unavailable(found: Located, weights: Weights) -> BackendUnavailable:
    """The error for a checkpoint that is not (completely) here: what is missing, and how to get it."""
    model = found.model
    if found.folder is None:
        looked = ", ".join(str(p) for p in found.looked)
        message = f"the model {model} is not on this machine (looked in {looked}; needs {', '.join(weights.files)})"
    else:
        lacks = ", ".join(str(Path(p).relative_to(found.folder)) for p in found.missing)
        message = f"the model {model} in {found.folder} lacks {lacks}"
    return BackendUnavailable(
        message,
        field=weights.setting,
        accepted=(
            f"`huggingface-cli download {model}` on a machine with network, then copy the HF cache here "
            "(HF_HOME), or put the whole folder in NANOCOCOA_MODELS_DIR/" + model.split("/")[-1]
        ),
    )


# -- the files checkpoints name -----------------------------------------------------------------------------


def _json(path: Path) -> dict[str, Any]:
    """A JSON object file, or {} when it is missing or unreadable (its own absence is reported elsewhere)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _weight_files(folder: Path, sub: str, stem: str, bin_stem: str) -> tuple[str, ...]:
    """The weights a loader reads in `folder/sub`: a shard index and every shard it names, else one
    safetensors file, else an older checkpoint's .bin; the safetensors file when there is none."""
    base = folder / sub

    def rel(name: str) -> str:
        return f"{sub}/{name}" if sub else name

    for index_name in (f"{stem}.safetensors.index.json", f"{bin_stem}.bin.index.json"):
        if (base / index_name).is_file():
            weight_map = _json(base / index_name).get("weight_map")
            shards = sorted({str(v) for v in weight_map.values()}) if isinstance(weight_map, dict) else []
            return (rel(index_name), *(rel(s) for s in shards))
    if not (base / f"{stem}.safetensors").exists() and (base / f"{bin_stem}.bin").exists():
        return (rel(f"{bin_stem}.bin"),)
    return (rel(f"{stem}.safetensors"),)


def _one_of(folder: Path, sub: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """The first of `names` present in `folder/sub` (alternatives a loader accepts), else the first."""
    found = next((n for n in names if (folder / sub / n).exists()), names[0])
    return (f"{sub}/{found}" if sub else found,)


def _tokenizer_files(folder: Path, sub: str) -> tuple[str, ...]:
    return (
        f"{sub}/tokenizer_config.json" if sub else "tokenizer_config.json",
        *_one_of(folder, sub, ("tokenizer.json", "vocab.json", "spiece.model")),
    )


def remote_code_files(folder: Path) -> tuple[str, ...]:
    """The code files config.json's auto_map names (a remote-code checkpoint such as BiRefNet): without them
    transformers would try to fetch them from the hub."""
    auto_map = _json(folder / "config.json").get("auto_map")
    refs = auto_map.values() if isinstance(auto_map, dict) else ()
    return tuple(sorted({ref.split("--")[-1].split(".")[0] + ".py" for ref in refs if isinstance(ref, str)}))


def vision_language_files(folder: Path) -> tuple[str, ...]:
    """A transformers vision-language checkpoint (Qwen2-VL): its weights, its processor's config (either
    name) and its tokenizer."""
    return (
        *_weight_files(folder, "", "model", "pytorch_model"),
        *_one_of(folder, "", ("preprocessor_config.json", "processor_config.json")),
        *_tokenizer_files(folder, ""),
    )


def pipeline_files(folder: Path) -> tuple[str, ...]:
    """A diffusers pipeline (FLUX): for each component model_index.json lists, its config and weights."""
    out: list[str] = []
    for name, entry in sorted(_json(folder / "model_index.json").items()):
        if name.startswith("_") or not isinstance(entry, list) or len(entry) != 2 or not all(entry):
            continue  # metadata, or an optional component the pipeline does not have
        library, cls = str(entry[0]), str(entry[1])
        if cls.endswith("Scheduler"):
            out.append(f"{name}/scheduler_config.json")
        elif "Tokenizer" in cls:
            out += _tokenizer_files(folder, name)
        else:  # a model: diffusers and transformers name their weight files differently
            stems = ("diffusion_pytorch_model",) * 2 if library == "diffusers" else ("model", "pytorch_model")
            out += [f"{name}/config.json", *_weight_files(folder, name, *stems)]
    return tuple(out)


def torch_device(settings: Settings) -> str:
    import torch

    if settings.device != "auto":
        return settings.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def is_oom(exc: BaseException) -> bool:
    # Read without importing torch: a model that never loaded (weights or packages missing) must not
    # load it by failing.
    if isinstance(exc, BackendUnavailable):
        return False
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return "out of memory" in str(exc).lower()


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
