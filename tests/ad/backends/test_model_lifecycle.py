"""Model lifecycle without any model: weights found offline (or a clear refusal naming the files and the
fix), JIT loading kept warm, least recently used unloaded under a VRAM budget, OOM retried once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanococoa_mcp.ad.backends.models import ModelManager, Weights, find_checkpoint, locate
from nanococoa_mcp.ad.backends.registry import FLUX_WEIGHTS, QWEN_WEIGHTS
from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.settings import Settings

CONFIG_ONLY = Weights("birefnet_model", ("config.json",))


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", **kw)  # type: ignore[arg-type]


def test_weights_are_found_in_the_models_dir_then_the_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    local = tmp_path / "models" / "BiRefNet"
    local.mkdir(parents=True)
    (local / "config.json").write_text("{}")
    settings = _settings(tmp_path, models_dir=tmp_path / "models")
    assert find_checkpoint(CONFIG_ONLY, settings) == local
    snap = tmp_path / "hub" / "models--Qwen--Qwen2-VL-2B-Instruct" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "tokenizer_config.json",
                 "tokenizer.json"):  # fmt: skip
        (snap / name).write_text("{}")
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("abc123")
    assert find_checkpoint(QWEN_WEIGHTS, settings) == snap


def test_missing_weights_name_the_files_and_how_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(BackendUnavailable) as info:
        find_checkpoint(FLUX_WEIGHTS, _settings(tmp_path))
    assert "is not on this machine" in info.value.message and "model_index.json" in info.value.message
    assert "huggingface-cli download black-forest-labs/FLUX.1-schnell" in (info.value.accepted or "")


def test_a_sharded_checkpoint_needs_every_shard_its_index_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    folder = tmp_path / "models" / "Qwen2-VL-2B-Instruct"
    folder.mkdir(parents=True)
    shards = {"a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors"}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": shards}))
    for name in ("config.json", "model-00001-of-00002.safetensors", "processor_config.json",
                 "tokenizer_config.json", "vocab.json"):  # fmt: skip
        (folder / name).write_text("{}")
    found = locate(QWEN_WEIGHTS, _settings(tmp_path, models_dir=tmp_path / "models"))
    assert found.folder == folder
    assert found.missing == (str(folder / "model-00002-of-00002.safetensors"),)
    with pytest.raises(BackendUnavailable, match=r"lacks model-00002-of-00002\.safetensors"):
        find_checkpoint(QWEN_WEIGHTS, _settings(tmp_path, models_dir=tmp_path / "models"))


def test_models_load_once_and_the_oldest_makes_room_under_the_budget() -> None:
    manager = ModelManager(budget_gb=20)
    unloaded: list[str] = []
    a = manager.get("flux", lambda: "FLUX", vram_gb=16, unload=lambda _m: unloaded.append("flux"))
    assert manager.get("flux", lambda: "other", vram_gb=16) == a == "FLUX"  # warm: not loaded again
    manager.get("birefnet", lambda: "BiRefNet", vram_gb=1)
    manager.get("qwen", lambda: "Qwen", vram_gb=6)  # 16 + 1 + 6 > 20: the least recently used goes
    assert manager.loaded() == ["birefnet", "qwen"] and unloaded == ["flux"]
    assert manager.loads == {"flux": 1, "birefnet": 1, "qwen": 1}


def test_out_of_memory_is_retried_once_then_a_typed_error() -> None:
    manager = ModelManager()
    manager.get("flux", lambda: "FLUX")
    calls: list[str] = []

    def oom() -> str:
        calls.append("try")
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    assert manager.run(oom, retry=lambda: "smaller", what="FLUX") == "smaller"
    assert manager.loaded() == []  # everything was unloaded to make room
    with pytest.raises(BackendUnavailable) as info:
        manager.run(oom, what="FLUX")
    assert "out of GPU memory twice" in info.value.message and len(calls) == 3
    with pytest.raises(ValueError):  # other errors are not retried
        manager.run(lambda: (_ for _ in ()).throw(ValueError("bad")), what="FLUX")
