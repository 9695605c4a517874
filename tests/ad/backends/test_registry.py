"""The backend registry: the one list that dispatch, settings, health and doctor read; what a backend lacks,
named exactly (the files its loader reads); fallbacks decided by the stages, never by the backends."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nanococoa_mcp.ad.backends import registry
from nanococoa_mcp.ad.backends.registry import SPECS, STAGES, backend_report, names
from nanococoa_mcp.ad.backends.studio.layout import analyse
from nanococoa_mcp.ad.catalog.styles import resolve_style
from nanococoa_mcp.ad.catalog.text_styles import resolve_text_style
from nanococoa_mcp.ad.images import decode_image
from nanococoa_mcp.ad.pipeline import AdRequest, Studio
from nanococoa_mcp.ad.stages import copy_design, cutout, layout, scene
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.settings import Settings
from tests.conftest import SAMPLES

AD = Path(__file__).resolve().parents[3] / "src" / "nanococoa_mcp" / "ad"


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty models directory and an empty HF cache: nothing to load, nothing fetched."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = tmp_path / "models"
    path.mkdir()
    return path


def _settings(models: Path, **kw: object) -> Settings:
    defaults: dict[str, object] = {"data_dir": models.parent / "data", "models_dir": models, "llm_base_url": None}
    return Settings(**(defaults | kw))  # type: ignore[arg-type]


def _files(folder: Path, *names: str, content: str = "{}") -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)


# -- one list --------------------------------------------------------------------------------------------


def test_each_stage_lists_its_backends_the_embedded_one_first() -> None:
    assert {(s.stage, s.name) for s in SPECS} == {
        ("cutout", "studio"), ("cutout", "birefnet"), ("scene", "studio"), ("scene", "flux"),
        ("layout", "studio"), ("layout", "qwen"), ("copy", "template"), ("copy", "llm"),
    }  # fmt: skip
    for stage in STAGES:
        embedded = [s for s in SPECS if s.stage == stage and s.embedded]
        assert len(embedded) == 1 and names(stage)[0] == embedded[0].name == registry.embedded(stage).name
        assert not (embedded[0].packages or embedded[0].weights or embedded[0].endpoint)  # nothing to install
    for spec in SPECS:
        assert callable(registry.load(spec)), spec.target


def test_an_unknown_backend_in_the_settings_is_refused_at_start_naming_the_registered_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for stage in STAGES:
        for name in names(stage):
            registry.check_settings(Settings(**{f"{stage}_backend": name}))
    with pytest.raises(InvalidInput) as err:
        registry.check_settings(Settings(layout_backend="gpt5"))
    assert "unknown layout backend 'gpt5'" in str(err.value) and "studio, qwen" in str(err.value)
    assert err.value.field == "NANOCOCOA_LAYOUT_BACKEND"
    monkeypatch.setenv("NANOCOCOA_CUTOUT_BACKEND", "rembg")
    with pytest.raises(InvalidInput, match="studio, birefnet"):
        registry.check_settings(Settings())


async def test_the_job_service_refuses_to_start_on_an_unregistered_backend(tmp_path: Path) -> None:
    from nanococoa_mcp.app import service_running

    with pytest.raises(InvalidInput, match="NANOCOCOA_SCENE_BACKEND"):
        async with service_running(Settings(data_dir=tmp_path / "data", scene_backend="sdxl")):
            pass
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_dispatch_runs_every_registered_backend_and_refuses_any_other_name(models: Path) -> None:
    """Each stage accepts exactly the registry's names: a model backend that cannot run here (nothing is
    on disk, no endpoint) is still dispatched to, and gives way to the embedded one saying why."""
    settings = _settings(models)
    yy, xx = np.mgrid[0:120, 0:160]
    disc = (xx - 80) ** 2 + (yy - 60) ** 2 < 40**2
    photo = np.full((120, 160, 4), 255, np.uint8)
    photo[disc, :3] = (200, 30, 30)
    rgb = np.ascontiguousarray(photo[..., :3])
    lay = analyse(rgb, disc, None)
    copy_in = copy_design.CopyInput(copy="세일", sub_copy=None, style=resolve_text_style("bold_clean"),
                                    analysis=lay, region=lay.empty_spaces[0], background=rgb)  # fmt: skip
    scene_in = scene.SceneInput(96, 96, resolve_style("minimal"), ((200, 30, 30),), 0.5, 1)
    repaint_in = scene.RepaintInput(image=rgb, keep_mask=disc, prompt="a table", strength=0.6,
                                    guidance_scale=3.5, seed=1)  # fmt: skip

    def dispatch(stage: str, name: str) -> tuple[str, str | None]:
        """(the backend whose result came back, the fallback reason)"""
        if stage == "cutout":
            cut = cutout.run(cutout.CutoutInput(photo, False), cutout.CutoutParams(backend=name), settings)
            return ("studio" if cut.method == "matting" else cut.method), cut.fallback_reason
        if stage == "scene":
            params = scene.SceneParams(backend=name)
            assert scene.run(scene_in, params).image.shape == (96, 96, 3)
            out = scene.repaint(repaint_in, params, settings)
            return out.backend, out.fallback_reason
        if stage == "layout":
            analysed = layout.run(layout.LayoutInput(rgb, disc), layout.LayoutParams(backend=name), settings)
            return analysed.backend, analysed.fallback_reason
        designed = copy_design.run(copy_in, copy_design.CopyParams(backend=name), settings)
        return designed.backend, designed.fallback_reason

    for spec in SPECS:
        used, reason = dispatch(spec.stage, spec.name)
        if spec.embedded:
            assert (used, reason) == (spec.name, None)
        else:
            studio = registry.embedded(spec.stage).name
            assert used == studio and reason is not None and reason.startswith(f"{spec.name}: "), reason
            assert reason.endswith(f"used {studio} instead")
    for stage in STAGES:
        with pytest.raises(InvalidInput) as err:
            dispatch(stage, "no-such-backend")
        assert (err.value.field, err.value.accepted) == (f"{stage}_backend", ", ".join(names(stage)))


# -- what a backend lacks, exactly --------------------------------------------------------------------------


def test_health_names_the_exact_files_each_checkpoint_lacks(models: Path) -> None:
    birefnet = models / "BiRefNet"  # config (with its auto_map) and code, but no weights
    _files(birefnet, "birefnet.py", "BiRefNet_config.py")
    (birefnet / "config.json").write_text(json.dumps({"auto_map": {
        "AutoConfig": "BiRefNet_config.BiRefNetConfig", "AutoModelForImageSegmentation": "birefnet.BiRefNet"}}))
    qwen = models / "Qwen2-VL-2B-Instruct"  # weights and config only
    _files(qwen, "config.json", "model.safetensors")
    flux = models / "FLUX.1-schnell"  # every component but the VAE's weights
    (flux).mkdir()
    (flux / "model_index.json").write_text(json.dumps({
        "_class_name": "FluxPipeline", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "transformer": ["diffusers", "FluxTransformer2DModel"], "vae": ["diffusers", "AutoencoderKL"],
        "image_encoder": [None, None]}))
    _files(flux, "scheduler/scheduler_config.json", "text_encoder/config.json", "text_encoder/model.safetensors",
           "tokenizer/tokenizer_config.json", "tokenizer/vocab.json", "transformer/config.json",
           "transformer/diffusion_pytorch_model.safetensors", "vae/config.json")  # fmt: skip

    report = {(b.stage, b.backend): b for b in backend_report(_settings(models, cutout_backend="birefnet"))}
    assert [(b.stage, b.backend) for b in backend_report(_settings(models))] == [(s.stage, s.name) for s in SPECS]
    for embedded in (("cutout", "studio"), ("scene", "studio"), ("layout", "studio"), ("copy", "template")):
        assert report[embedded].usable and report[embedded].missing == [] and report[embedded].reason is None
    b = report[("cutout", "birefnet")]
    assert b.configured and not b.usable and b.missing == [str(birefnet / "model.safetensors")]
    assert b.reason is not None and f"{birefnet} lacks model.safetensors" in b.reason
    assert "huggingface-cli download ZhengPeng7/BiRefNet" in b.reason
    assert report[("layout", "qwen")].missing == [
        str(qwen / f) for f in ("preprocessor_config.json", "tokenizer_config.json", "tokenizer.json")
    ]
    assert report[("scene", "flux")].missing == [str(flux / "vae" / "diffusion_pytorch_model.safetensors")]
    llm = report[("copy", "llm")]
    assert not llm.usable and llm.missing == ["an LLM endpoint (NANOCOCOA_LLM_BASE_URL or OPENAI_API_KEY)"]
    assert "NANOCOCOA_LLM_BASE_URL" in (llm.reason or "")

    (birefnet / "birefnet.py").unlink()  # the code files the auto_map names are needed too
    _files(birefnet, "model.safetensors")
    report = {(b.stage, b.backend): b for b in backend_report(_settings(models, llm_base_url="http://127.0.0.1:9/v1"))}
    assert report[("cutout", "birefnet")].missing == [str(birefnet / "birefnet.py")]
    assert report[("copy", "llm")].usable


def test_a_checkpoint_that_is_nowhere_is_looked_for_where_the_models_dir_says(models: Path) -> None:
    flux = next(b for b in backend_report(_settings(models)) if b.backend == "flux")
    expected = models / "FLUX.1-schnell"  # NANOCOCOA_MODELS_DIR/<the repo id's last part>
    needs = ("model_index.json", "transformer/config.json", "vae/config.json")
    assert flux.missing == [str(expected / f) for f in needs]
    assert flux.reason is not None and "is not on this machine" in flux.reason


def test_a_missing_python_package_is_named_with_how_to_install_it(models: Path) -> None:
    spec = dataclasses.replace(registry.get("layout", "qwen"), packages=("torch", "nanococoa_no_such_package"))
    status = registry.check(spec, _settings(models))
    assert status.missing[0] == "Python package nanococoa_no_such_package" and not status.usable
    assert "missing Python packages nanococoa_no_such_package: pip install 'nanococoa-mcp[gpu]'" in str(status.reason)


# -- fallbacks belong to the stages -------------------------------------------------------------------------

FALL_BACK = """
import sys
import numpy as np
from nanococoa_mcp.ad.stages import cutout, layout, scene
from nanococoa_mcp.settings import Settings

settings = Settings(models_dir=sys.argv[1])
photo = np.full((120, 160, 4), 255, np.uint8)
photo[30:90, 50:110, :3] = (200, 30, 30)
keep = np.zeros((120, 160), bool)
keep[30:90, 50:110] = True
rgb = np.ascontiguousarray(photo[..., :3])
reasons = [
    cutout.run(cutout.CutoutInput(photo, False), cutout.CutoutParams(backend="birefnet"), settings).fallback_reason,
    layout.run(layout.LayoutInput(rgb, keep), layout.LayoutParams(backend="qwen"), settings).fallback_reason,
    scene.repaint(scene.RepaintInput(rgb, keep, "a table", 0.6, 3.5, 1), scene.SceneParams(backend="flux"),
                  settings).fallback_reason,
]
print("FELL BACK", all(reasons), sorted(n for n in ("torch", "diffusers", "transformers") if n in sys.modules))
"""


def test_a_model_backend_without_its_weights_is_given_up_without_importing_torch(models: Path) -> None:
    env = {**os.environ, "NANOCOCOA_DATA_DIR": str(models.parent / "data")}
    command = [sys.executable, "-c", FALL_BACK, str(models)]
    res = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "FELL BACK True []" in res.stdout


@pytest.mark.browser
def test_configured_backends_that_cannot_run_give_way_to_the_embedded_ones_with_the_reasons_in_the_report(
    models: Path,
) -> None:
    _files(models / "BiRefNet", "config.json")
    settings = _settings(
        models, cutout_backend="birefnet", scene_backend="flux", layout_backend="qwen", copy_backend="llm"
    )
    studio = Studio(settings)
    try:
        ad = studio.generate(
            decode_image((SAMPLES / "apple.jpg").read_bytes()),
            AdRequest(text_content="꿀사과 특가", size="1:1", bg_prompt="apples on a wooden table"),
        )
    finally:
        studio.close()
    quality = ad.variants[0].quality
    assert quality.passed, quality
    notes = quality.notes
    for backend, why in (("birefnet", "lacks model.safetensors"), ("flux", "is not on this machine"),
                         ("qwen", "is not on this machine")):  # fmt: skip
        said = [n for n in notes if n.startswith(f"{backend}: ") and n.endswith("used studio instead")]
        assert len(said) == 1 and why in said[0], notes
    assert any(n.startswith("copy: llm: no LLM endpoint") and n.endswith("used template instead") for n in notes)


# -- the directions of the imports ---------------------------------------------------------------------------


def _imports(path: Path) -> list[tuple[str, list[str], bool]]:
    """(module, names imported from it, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set(map(id, tree.body))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names], id(node) in top))
    return out


def _backend_family(module: str, imported: list[str]) -> set[str]:
    """The backend families (studio, birefnet, flux, qwen, llm_copy) an import reaches; the registry and
    the model lifecycle (models) are shared by all."""
    prefix = "nanococoa_mcp.ad.backends"
    if module == prefix:
        reached = set(imported)
    elif module.startswith(prefix + "."):
        reached = {module.removeprefix(prefix + ".").split(".")[0]}
    else:
        return set()
    return reached - {"registry", "models"}


def test_backends_call_neither_stages_nor_other_backends_and_stages_import_only_the_registry() -> None:
    backends = sorted((AD / "backends").rglob("*.py"))
    assert len(backends) > 10
    for path in backends:
        rel = path.relative_to(AD / "backends")
        family = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for module, imported, _top in _imports(path):
            where = f"{rel} imports {module} {imported}"
            # A backend implements a stage's contract: its types and pure helpers, never its run() (the
            # dispatch and fallback policy), nor the stage module itself, nor the pipeline.
            if module.startswith("nanococoa_mcp.ad.stages"):
                assert module.count(".") == 3 and imported and "run" not in imported, where
            assert module != "nanococoa_mcp.ad.pipeline", where
            assert _backend_family(module, imported) <= {family}, where
    for path in sorted((AD / "stages").glob("*.py")):
        for module, imported, _top in _imports(path):
            reached = _backend_family(module, imported) | (
                {module} if module.startswith("nanococoa_mcp.ad.backends.") and module != registry.__name__ else set()
            )
            assert not reached, f"stages/{path.name} imports {module} {imported}: dispatch goes through the registry"
