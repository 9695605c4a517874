"""The ad pipeline: cut-out → scene → compose → layout → copy → render → final, with progress.

`Studio` owns what should stay warm between ads (the browser). One Studio per thread.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import ConfigDict, Field, field_validator

from nanococoa_mcp.ad.backends import registry
from nanococoa_mcp.ad.catalog.choice import DEFAULT_SCENE, DEFAULT_TEXT, StyleChoice, choose_styles, choose_text
from nanococoa_mcp.ad.catalog.lookup import fold
from nanococoa_mcp.ad.catalog.sizes import DEFAULT_SIZE, SizePreset, resolve_size
from nanococoa_mcp.ad.catalog.styles import SceneStyle, resolve_style
from nanococoa_mcp.ad.catalog.text_styles import TextStyle, resolve_text_style
from nanococoa_mcp.ad.checkpoints import Checkpoints, TextStep
from nanococoa_mcp.ad.color import dominant_colors
from nanococoa_mcp.ad.hints import CutoutHints
from nanococoa_mcp.ad.images import DecodedImage, fit_long_side
from nanococoa_mcp.ad.photo_card import photo_card
from nanococoa_mcp.ad.plan import STEPS, progress_at, stage_plan
from nanococoa_mcp.ad.stages import compose, copy_design, cutout, final, layout, scene
from nanococoa_mcp.ad.stages.layout import EmptySpace, LayoutAnalysis
from nanococoa_mcp.ad.stages.render import Renderer, RenderOutput
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.jobs.cancel import checkpoint
from nanococoa_mcp.settings import Settings, get_settings

TextPosition = Literal["auto", "top", "bottom", "left", "right"]
# Small product photos (a 256 px shop icon) are enlarged up to this; past it they turn visibly soft.
MAX_UPSCALE = 2.2
WORK_MAX_SIDE = 1600  # the ad is at most 1920 px tall; more product resolution than this is wasted time


class AdRequest(CutoutHints):
    """One ad, already typed (the doors map their own request shapes onto this), with the cut-out hints its
    photo came with (pixels of the photo as stored)."""

    model_config = ConfigDict(extra="forbid")

    text_content: str = Field(description="Main ad copy (Korean), 1-40 characters (the seed's text_content).")
    sub_copy: str | None = Field(default=None, description="Optional second line: price, period, place.")
    style: str | None = Field(
        default=None, description="Scene style id or Korean/English name; none: chosen from the copy and the product."
    )
    text_style: str | None = Field(
        default=None, description="Text style id or Korean/English name; none: chosen from the copy and the scene."
    )
    size: str = Field(default=DEFAULT_SIZE, description="Size preset.")
    variants: int = Field(default=1, ge=1, le=4, description="How many different scene/layout choices.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    text_position: TextPosition = "auto"
    # The seed's model-server fields, kept with the job; the embedded backends do not need them (the
    # diffusion, VLM and LLM backends read them).
    bg_prompt: str | None = Field(default=None, max_length=1000, description="Scene prompt for a diffusion backend.")
    html_style_prompt: str | None = Field(default=None, max_length=1000, description="Copy style for an LLM backend.")
    use_qwen_analysis: bool = True
    use_llm_html: bool = False
    strength: float = Field(default=0.6, ge=0, le=1, description="Diffusion img2img strength.")
    guidance_scale: float = Field(default=3.5, ge=0, le=30, description="Diffusion guidance scale.")
    test_mode: bool = Field(
        default=False, description="The seed's flag, kept with the job; a new request may only send false."
    )
    photo_size: list[int] | None = Field(
        default=None, min_length=2, max_length=2,
        description="The photo's [width, height] as stored (after EXIF rotation): what product_box and "
        "product_points are pixels of; a re-run on the same photo checks new hints against it.",
    )

    @field_validator("style", "text_style")
    @classmethod
    def _auto_is_none(cls, value: str | None) -> str | None:
        """"auto" (자동) asks for the choice a missing style gets."""
        return None if value is not None and fold(value) in AUTO_NAMES else value


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    percent: float
    step: str
    sub_step: str
    message: str
    variant: int


@dataclass(slots=True)
class VariantResult:
    index: int
    seed: int
    style_id: str
    text_style_id: str
    style_reason: str
    image: npt.NDArray[np.uint8]
    step1: npt.NDArray[np.uint8]
    analysis: LayoutAnalysis
    region: EmptySpace
    quality: final.QualityReport
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class AdResult:
    cutout_rgba: npt.NDArray[np.uint8]
    cutout_confidence: float
    size: SizePreset
    variants: list[VariantResult]
    timings: dict[str, float]
    layout_mode: Literal["cutout", "photo_card"] = "cutout"


ProgressFn = Callable[[ProgressEvent], None]


def check_request(req: AdRequest, settings: Settings | None = None) -> tuple[SizePreset, TextStyle | None]:
    """Validate what pydantic cannot: copy length, known names. Raises InvalidInput naming the field."""
    settings = settings or get_settings()
    copy = req.text_content.strip()
    if not copy:
        raise InvalidInput("the ad copy is empty", field="copy", accepted=f"1-{settings.max_copy_chars} characters")
    if len(copy) > settings.max_copy_chars:
        raise InvalidInput(
            f"the ad copy has {len(copy)} characters",
            field="copy",
            accepted=f"at most {settings.max_copy_chars} characters (put details in sub_copy)",
        )
    if req.sub_copy is not None and len(req.sub_copy.strip()) > settings.max_copy_chars:
        raise InvalidInput(
            f"the sub-copy has {len(req.sub_copy.strip())} characters",
            field="sub_copy",
            accepted=f"at most {settings.max_copy_chars} characters",
        )
    if req.style is not None:
        resolve_style(req.style)
    return resolve_size(req.size), resolve_text_style(req.text_style) if req.text_style is not None else None


@dataclass(frozen=True, slots=True)
class _Plan:
    anchor_x: float
    seed: int
    position: TextPosition


def plan_variants(req: AdRequest, size: SizePreset) -> list[_Plan]:
    wide = size.width > size.height * 1.3
    anchors = (0.72, 0.28, 0.7, 0.3) if wide else (0.5, 0.3, 0.7, 0.5)
    positions: tuple[TextPosition, ...] = (
        (req.text_position,) * 4 if req.text_position != "auto" else ("auto", "right", "left", "bottom")
    )
    if wide and req.text_position == "auto":
        positions = ("left", "right", "left", "right")
    return [_Plan(anchors[i], req.seed + 7919 * i, positions[i]) for i in range(req.variants)]


def _height_frac(size: SizePreset, product_aspect: float, anchor_x: float) -> float:
    """Product height as a share of the canvas: tall enough to sell, narrow enough to leave room for copy."""
    ratio = size.height / size.width
    if ratio < 0.8:
        frac, max_w = 0.72, 0.42
    elif ratio > 1.6:
        frac, max_w = 0.42, 0.7
    else:
        frac, max_w = (0.5 if ratio < 1.1 else 0.52), 0.62
    if abs(anchor_x - 0.5) > 0.1:  # side layouts: the copy needs the other ~45% of the width
        max_w = min(max_w, 0.46)
        frac *= 0.9
    return min(frac, max_w * size.width / (max(product_aspect, 1e-3) * size.height))


def pick_region(analysis: LayoutAnalysis, position: TextPosition) -> tuple[EmptySpace, str | None]:
    """The empty space for the copy, and a note when the requested position had no room."""
    spaces = analysis.empty_spaces
    if position == "auto":
        return spaces[0], None
    wanted = {"top": ("top-",), "bottom": ("bottom-",), "left": ("-left",), "right": ("-right",)}[position]
    for s in spaces:
        if any(w in s.region for w in wanted):
            return s, None
    return spaces[0], f"no room for the copy at the {position}; placed it {spaces[0].region} instead"


class Studio:
    """Runs ads end to end on the embedded backends, keeping the browser warm."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.renderer = Renderer(self.settings.chromium_path)

    def close(self) -> None:
        self.renderer.close()

    def warm(self) -> None:
        """Start what the first ad would otherwise wait for (the browser)."""
        self.renderer.warm()

    def cut_out(self, image: DecodedImage, hints: CutoutHints | None = None) -> cutout.CutoutOutput:
        """The product cut out of the photo on a working copy (long side <= WORK_MAX_SIDE), `hints` (pixels
        of the photo as stored) carried over to it. Raises InvalidInput as cutout.run does."""
        rgba = fit_long_side(image.rgba, WORK_MAX_SIDE)
        inp = cutout.CutoutInput(image=rgba, has_alpha=image.has_alpha)
        if hints is not None and hints.hinted:
            inp = cutout.scale_hints(hints.cutout_input(image.rgba, image.has_alpha), rgba)
        return cutout.run(inp, cutout.CutoutParams(backend=self.settings.cutout_backend), self.settings)

    def _product(self, image: DecodedImage, hints: CutoutHints) -> tuple[cutout.CutoutOutput, str | None]:
        """What step 1 places in the scene: the cut-out, or, when there is no trustworthy one, a photo card of
        the photo itself, with why. A hard photo is not bad input: it still gets an ad. With hints the cut-out
        stands whatever its confidence: the person said where the product is."""
        try:
            cut = self.cut_out(image, hints)
        except cutout.NoProductFound:
            why = CARD_WHY_HINTED if hints.hinted else f"{CARD_WHY_NONE}; {CARD_ADVICE}"
            return self._card(image, None, 0.0), why
        if cut.method == "alpha-channel" or not cut.low_confidence or cut.hint_used:
            return cut, None
        subject = cut.rgba[..., 3] >= 128
        why = f"the cut-out is not trustworthy (confidence {cut.confidence:.2f} < {cutout.LOW_CONFIDENCE})"
        card = dataclasses.replace(self._card(image, subject, cut.confidence), fallback_reason=cut.fallback_reason)
        return card, f"{why}; {CARD_ADVICE}"

    def _card(
        self, image: DecodedImage, subject: npt.NDArray[np.bool_] | None, confidence: float
    ) -> cutout.CutoutOutput:
        rgb = fit_long_side(image.rgba, WORK_MAX_SIDE)[..., :3]
        card = photo_card(np.ascontiguousarray(rgb), subject)
        h, w = card.shape[:2]
        return cutout.CutoutOutput(
            rgba=card, confidence=confidence, method="photo_card", bbox=(0, 0, w, h), notes=("photo card",)
        )

    def generate(
        self,
        image: DecodedImage | None,
        req: AdRequest,
        progress: ProgressFn | None = None,
        *,
        start_step: int = 1,
        checkpoints: Checkpoints | None = None,
    ) -> AdResult:
        """Make the ad. With `checkpoints`, each finished step is stored there; with `start_step` 2 or 3
        the earlier steps are read from there instead of run (`image` is then not needed)."""
        size, asked_text = check_request(req, self.settings)
        if start_step > 1 and checkpoints is None:
            raise InvalidInput("re-running from a later step needs the stored steps", field="start_step", accepted="1")
        if start_step == 1 and image is None:
            raise InvalidInput("no product photo was given", field="product_image", accepted="an image")
        asked_scene = resolve_style(req.style) if req.style is not None else None
        plans = plan_variants(req, size)
        n = len(plans)
        scene_params = scene.SceneParams(backend=self.settings.scene_backend)
        repaint = scene.repaints(scene_params)
        plan = stage_plan(n, start_step, repaint)
        stage = -1
        timings: dict[str, float] = {}
        vts: list[dict[str, float]] = [{} for _ in plans]

        emit = progress or (lambda _e: None)

        def tick(step: str, sub: str, msg: str, v: int) -> None:
            nonlocal stage
            stage += 1
            emit(ProgressEvent(percent=progress_at(plan, stage), step=step, sub_step=sub, message=msg, variant=v))

        def within(frac: float, msg: str, v: int) -> None:
            """Progress inside the current stage (diffusion steps)."""
            step, sub = plan[stage]
            emit(
                ProgressEvent(percent=progress_at(plan, stage + frac), step=step, sub_step=sub, message=msg, variant=v)
            )

        step1_notes: list[str] = []

        # Step 1: the product cut out and set in its scene, per variant.
        comps: list[compose.ComposeOutput] = []
        scene_notes: list[list[str]] = [[] for _ in plans]
        if start_step == 1:
            assert image is not None
            tick(STEPS[0], "cutout", "Cutting out the product", 0)
            t0 = time.perf_counter()
            cut, card_reason = self._product(image, req)
            timings["cutout"] = time.perf_counter() - t0
            cut_rgba, confidence, hint_used = cut.rgba, cut.confidence, cut.hint_used
            step1_notes += [r for r in (cut.fallback_reason,) if r]
            if checkpoints is not None:
                checkpoints.save_cutout(cut_rgba, confidence, card_reason, hint_used)
            palette = _palette(cut_rgba)
            looks = self._choose_looks(req, asked_scene, asked_text, palette, n, step1_notes)
            bx0, by0, bx1, by1 = cut.bbox
            aspect = (bx1 - bx0) / max(1, by1 - by0)
            for i, pl in enumerate(plans):
                style = looks[i].scene
                tick(STEPS[0], "scene", f"Building the {style.name_ko} scene", i)
                t = time.perf_counter()
                sc = scene.run(
                    scene.SceneInput(
                        width=size.width,
                        height=size.height,
                        style=style,
                        palette=palette,
                        anchor_x=pl.anchor_x,
                        seed=pl.seed,
                    ),
                    scene_params,  # a generative backend repaints around the composed product (below)
                )
                vts[i]["scene"] = time.perf_counter() - t
                checkpoint()
                tick(STEPS[0], "compose", "Placing the product and its shadow", i)
                t = time.perf_counter()
                frac = _height_frac(size, aspect, pl.anchor_x)
                comp = compose.run(
                    compose.ComposeInput(scene=sc, product=cut_rgba, height_frac=frac, max_upscale=MAX_UPSCALE)
                )
                vts[i]["compose"] = time.perf_counter() - t
                if repaint:
                    tick(STEPS[0], "scene_generation", "Generating the scene around the product", i)
                    t = time.perf_counter()
                    on_step = functools.partial(_diffusion_step, within, i)
                    bg_prompt = self._scene_prompt(req, looks[i], step1_notes)
                    comp, reason = self._repaint(req, bg_prompt, comp, pl.seed, scene_params, on_step)
                    scene_notes[i] += [r for r in (reason,) if r]
                    vts[i]["scene_generation"] = time.perf_counter() - t
                if checkpoints is not None:
                    checkpoints.save_step1(i + 1, comp, style.id, looks[i].reason)
                comps.append(comp)
        else:
            assert checkpoints is not None
            cut_rgba, confidence, card_reason, hint_used = checkpoints.load_cutout()
            comps = [checkpoints.load_step1(i + 1) for i in range(n)]
            looks = self._stored_looks(req, checkpoints, asked_text, n, start_step)

        # Step 2: where the copy reads best, and the copy typeset there (checked, re-set when it falls short).
        texts: list[TextStep] = []
        finals: list[final.FinalOutput | None] = []
        notes: list[list[str]] = []
        # The seed's per-request switch: off, the embedded analysis even where a model is configured.
        layout_backend = self.settings.layout_backend if req.use_qwen_analysis else registry.embedded("layout").name
        for i, (pl, comp) in enumerate(zip(plans, comps, strict=True)):
            if start_step == 3:
                assert checkpoints is not None
                texts.append(checkpoints.load_step2(i + 1))
                finals.append(None)
                notes.append([])
                continue
            tick(STEPS[1], "layout_analysis", "Finding where the copy reads best", i)
            t = time.perf_counter()
            lay_out = layout.run(
                layout.LayoutInput(image=comp.image, product_mask=comp.product_mask, safe_box=size.safe_box()),
                layout.LayoutParams(backend=layout_backend),
                self.settings,
            )
            lay = lay_out.analysis
            region, region_note = pick_region(lay, pl.position)
            vnotes = [*step1_notes, *scene_notes[i], *(r for r in (lay_out.fallback_reason,) if r), *lay_out.notes]
            vts[i]["layout"] = time.perf_counter() - t
            text_style = looks[i].text
            tick(STEPS[1], "html_rendering", f"Typesetting the copy ({text_style.name_ko})", i)
            text, result = self._typeset(req, text_style, lay, region, comp, size, confidence, vts[i], vnotes)
            text = dataclasses.replace(text, text_style=text_style.id, style_reason=looks[i].reason)
            if checkpoints is not None:
                checkpoints.save_step2(i + 1, text)
            texts.append(text)
            finals.append(result)
            if region_note and pl.position == req.text_position:
                vnotes.append(region_note)
            notes.append(vnotes)

        # Step 3: the text layer over the scene, and the quality report.
        variants: list[VariantResult] = []
        for i, (pl, comp, text) in enumerate(zip(plans, comps, texts, strict=True)):
            tick(STEPS[2], "composite", f"Compositing variant {i + 1} of {n}", i)
            t = time.perf_counter()
            done = finals[i] or self._composite(req, looks[i].text, text, comp, size, confidence)
            vts[i]["final"] = vts[i].get("final", 0.0) + time.perf_counter() - t
            done.quality.notes.extend(notes[i])
            done.quality.hint_used = hint_used
            if card_reason is not None:  # the photo stands whole: there are no cut-out edges to check
                done.quality.layout_mode, done.quality.layout_mode_reason = "photo_card", card_reason
                done.quality.notes = [n for n in done.quality.notes if n != final.LOW_CONFIDENCE_NOTE]
            variants.append(
                VariantResult(
                    index=i,
                    seed=pl.seed,
                    style_id=looks[i].scene.id,
                    text_style_id=looks[i].text.id,
                    style_reason=looks[i].reason,
                    image=done.image,
                    step1=comp.image,
                    analysis=text.analysis,
                    region=text.region,
                    quality=done.quality,
                    timings=vts[i],
                )
            )
        for v in variants:
            for k, sec in v.timings.items():
                timings[k] = timings.get(k, 0.0) + sec
        return AdResult(
            cutout_rgba=cut_rgba,
            cutout_confidence=confidence,
            size=size,
            variants=variants,
            timings=timings,
            layout_mode="photo_card" if card_reason is not None else "cutout",
        )

    def _choose_looks(
        self,
        req: AdRequest,
        asked_scene: SceneStyle | None,
        asked_text: TextStyle | None,
        palette: tuple[tuple[int, int, int], ...],
        n: int,
        notes: list[str],
    ) -> list[StyleChoice]:
        """Each variant's scene and text style: the ones asked for, else chosen from the copy and the product
        (the LLM's choice when one is configured), a different fitting pair per variant."""
        if asked_scene is not None and asked_text is not None:
            return [StyleChoice(asked_scene, asked_text, ASKED, ASKED)] * n
        if asked_scene is not None:  # the lettering that fits the copy in the asked scene, a different one per variant
            words = f"{req.text_content} {req.sub_copy or ''}"
            picks = [choose_text(words, asked_scene, i) for i in range(n)]
            return [StyleChoice(asked_scene, text, ASKED, why) for text, why in picks]
        chosen, fallback = choose_styles(req.text_content, req.sub_copy, palette, n, self.settings)
        notes.extend(r for r in (fallback,) if r)
        if asked_text is not None:
            return [dataclasses.replace(c, text=asked_text, text_why=ASKED) for c in chosen]
        return chosen

    def _stored_looks(
        self, req: AdRequest, checkpoints: Checkpoints, asked_text: TextStyle | None, n: int, start_step: int
    ) -> list[StyleChoice]:
        """A re-run keeps each variant's scene style (its scene is the parent's); from step 2 the text style is
        the one asked for, else chosen again for the new copy; from step 3 it is the stored one."""
        words = f"{req.text_content} {req.sub_copy or ''}"
        looks = []
        for i in range(n):
            stored = checkpoints.load_step1_style(i + 1)
            # A step stored before styles were kept was built in the request's style (then "minimal" by default).
            scene_style = resolve_style(stored[0] if stored else req.style or DEFAULT_SCENE)
            scene_why = f"the parent's scene ({stored[1] if stored else 'as asked'})"
            step2 = checkpoints.load_step2(i + 1) if start_step == 3 else None
            if step2 is not None:
                text = resolve_text_style(step2.text_style or req.text_style or DEFAULT_TEXT)
                looks.append(StyleChoice(scene_style, text, scene_why, "the parent's text layer"))
            elif asked_text is not None:
                looks.append(StyleChoice(scene_style, asked_text, scene_why, ASKED))
            else:
                text, why = choose_text(words, scene_style, i)
                looks.append(StyleChoice(scene_style, text, scene_why, why))
        return looks

    def _scene_prompt(self, req: AdRequest, look: StyleChoice, notes: list[str]) -> str:
        """The seed's English scene prompt for a generative scene: the request's, else the LLM's, else built in."""
        if req.bg_prompt:
            return req.bg_prompt
        from nanococoa_mcp.ad.backends.llm_copy import prompts_for
        from nanococoa_mcp.llm import configured

        written = prompts_for(
            req.text_content, look.scene, self.settings, text_style=look.text, style_prompt=req.html_style_prompt
        )
        note = f"scene prompt: {written.fallback_reason}; used the built-in one"
        if written.fallback_reason and configured(self.settings) and note not in notes:
            notes.append(note)
        return written.prompts.background_prompt

    def _repaint(
        self,
        req: AdRequest,
        prompt: str,
        comp: compose.ComposeOutput,
        seed: int,
        params: scene.SceneParams,
        on_step: Callable[[int, int], None],
    ) -> tuple[compose.ComposeOutput, str | None]:
        """Everything around the product repainted by the generative scene backend; the product's opaque
        pixels are kept bit for bit and its soft edge blended over the new scene. The procedural shadow is
        not kept: the model sees it in the init image and draws one that fits its own floor. When the
        backend cannot run, the composed studio scene stays, with the reason."""
        alpha = comp.product_layer[..., 3]
        out = scene.repaint(
            scene.RepaintInput(
                image=comp.image,
                keep_mask=alpha == 255,
                prompt=prompt,
                strength=req.strength,
                guidance_scale=req.guidance_scale,
                seed=seed,
            ),
            params,
            self.settings,
            on_step,
        )
        if out.image is None:
            return comp, out.fallback_reason
        image = out.image
        edge = (alpha > 0) & (alpha < 255)
        a = alpha[edge][:, None].astype(np.float32) / 255.0
        fg = comp.product_layer[..., :3][edge].astype(np.float32)
        image[edge] = np.rint(image[edge].astype(np.float32) * (1 - a) + fg * a).astype(np.uint8)
        return dataclasses.replace(comp, image=image), None

    def _copy_doc(
        self,
        req: AdRequest,
        text_style: TextStyle,
        lay: LayoutAnalysis,
        region: EmptySpace,
        background: npt.NDArray[np.uint8],
        boost: float,
        max_font: int | None,
    ) -> copy_design.CopyDocument:
        return copy_design.run(
            _copy_input(req, text_style, lay, region, background, boost, max_font),
            copy_design.CopyParams(backend=registry.embedded("copy").name),
        ).doc

    def _composite(
        self,
        req: AdRequest,
        text_style: TextStyle,
        text: TextStep,
        comp: compose.ComposeOutput,
        size: SizePreset,
        confidence: float,
    ) -> final.FinalOutput:
        """Step 3 alone, from a stored text layer: its document is re-derived (copy design is deterministic)."""
        doc = text.doc or self._copy_doc(
            req, text_style, text.analysis, text.region, comp.image, text.plate_boost, text.max_font_px
        )
        return final.run(
            final.FinalInput(
                step1=comp.image,
                product_layer=comp.product_layer,
                core_mask=comp.core_mask,
                product_mask=comp.product_mask,
                text=text.text,
                doc=doc,
                safe_box=size.safe_box(),
                cutout_confidence=confidence,
            )
        )

    def _typeset(
        self,
        req: AdRequest,
        text_style: TextStyle,
        lay: LayoutAnalysis,
        region: EmptySpace,
        comp: compose.ComposeOutput,
        size: SizePreset,
        confidence: float,
        vt: dict[str, float],
        notes: list[str],
    ) -> tuple[TextStep, final.FinalOutput]:
        # The seed's use_llm_html asks for the LLM's design whatever the configured backend.
        backend = "llm" if req.use_llm_html else self.settings.copy_backend
        if not registry.get("copy", backend).embedded:
            done = self._typeset_model(backend, req, text_style, lay, region, comp, size, confidence, vt, notes)
            if done is not None:
                return done
        tried = final.Typesetting()
        best: tuple[TextStep, final.FinalOutput] | None = None
        for _attempt in range(4):
            checkpoint()
            t = time.perf_counter()
            doc = self._copy_doc(req, text_style, lay, region, comp.image, tried.plate_boost, tried.max_font_px)
            vt["copy"] = vt.get("copy", 0.0) + time.perf_counter() - t
            rendered, result = self._render_and_check(doc, comp, size, confidence, vt)
            best = (TextStep(lay, region, rendered, tried.plate_boost, tried.max_font_px), result)
            retry = final.retry_typesetting(result.quality, tried, fixed_plate=text_style.always_plate)
            if retry is None:  # the template is deterministic: the same request would fail the same way
                break
            tried = retry
        assert best is not None
        return best

    def _typeset_model(
        self,
        backend: str,
        req: AdRequest,
        text_style: TextStyle,
        lay: LayoutAnalysis,
        region: EmptySpace,
        comp: compose.ComposeOutput,
        size: SizePreset,
        confidence: float,
        vt: dict[str, float],
        notes: list[str],
    ) -> tuple[TextStep, final.FinalOutput] | None:
        """A model backend's design, retried once when it fails the quality report; None means use the
        template (the backend cannot design here, or two failed reports), with the reason in `notes`."""
        params = copy_design.CopyParams(backend=backend, style_prompt=req.html_style_prompt)
        tried = final.Typesetting()
        for _attempt in range(2):
            checkpoint()
            t = time.perf_counter()
            out = copy_design.run(
                _copy_input(req, text_style, lay, region, comp.image, tried.plate_boost, tried.max_font_px),
                params,
                self.settings,
            )
            vt["copy"] = vt.get("copy", 0.0) + time.perf_counter() - t
            if out.fallback_reason is not None:
                notes.append(f"copy: {out.fallback_reason}")
                return None
            rendered, result = self._render_and_check(out.doc, comp, size, confidence, vt)
            q = result.quality
            if q.passed:
                notes.extend(out.notes)
                return TextStep(lay, region, rendered, tried.plate_boost, tried.max_font_px, doc=out.doc), result
            # Asked again even when nothing it can change failed: the model may answer differently.
            tried = final.retry_typesetting(q, tried) or tried
        notes.append(f"copy: the {backend} design failed the quality report twice; used the template")
        return None

    def _render_and_check(
        self,
        doc: copy_design.CopyDocument,
        comp: compose.ComposeOutput,
        size: SizePreset,
        confidence: float,
        vt: dict[str, float],
    ) -> tuple[RenderOutput, final.FinalOutput]:
        t = time.perf_counter()
        rendered = self.renderer.render(doc)
        vt["render"] = vt.get("render", 0.0) + time.perf_counter() - t
        t = time.perf_counter()
        result = final.run(
            final.FinalInput(
                step1=comp.image,
                product_layer=comp.product_layer,
                core_mask=comp.core_mask,
                product_mask=comp.product_mask,
                text=rendered,
                doc=doc,
                safe_box=size.safe_box(),
                cutout_confidence=confidence,
            )
        )
        vt["final"] = vt.get("final", 0.0) + time.perf_counter() - t
        return rendered, result


def _copy_input(
    req: AdRequest,
    text_style: TextStyle,
    lay: LayoutAnalysis,
    region: EmptySpace,
    background: npt.NDArray[np.uint8],
    boost: float,
    max_font: int | None,
) -> copy_design.CopyInput:
    return copy_design.CopyInput(
        copy=req.text_content.strip(),
        sub_copy=req.sub_copy,
        style=text_style,
        analysis=lay,
        region=region,
        background=background,
        plate_boost=boost,
        max_font_px=max_font,
    )


def _diffusion_step(within: Callable[[float, str, int], None], variant: int, k: int, total: int) -> None:
    within(k / total, f"Generating the scene: step {k} of {total}", variant)


ASKED = "as asked"
CARD_WHY_NONE = "no product stands apart from the backdrop"
CARD_ADVICE = (
    "the photo is shown whole as a card; for a cut-out instead, give product_box [x0, y0, x1, y1] around the "
    "product (or product/background points)"
)
CARD_WHY_HINTED = (
    "no product could be told apart inside the product box / at the product points given: the photo is shown whole "
    "as a card; try a box drawn closer around the product, or product points on it"
)
AUTO_NAMES = frozenset(fold(n) for n in ("auto", "자동", "자동 추천"))


def _palette(rgba: npt.NDArray[np.uint8]) -> tuple[tuple[int, int, int], ...]:
    """The product's main colours, most common first (its opaque pixels)."""
    return tuple(dominant_colors(rgba[..., :3], rgba[..., 3] >= 200, k=3))
