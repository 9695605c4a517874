"""The ad tools: start an ad job (one product photo + Korean copy), follow it, stop it, list jobs."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.catalog.sizes import DEFAULT_SIZE
from nanococoa_mcp.ad.catalog.styles import guess_style
from nanococoa_mcp.ad.catalog.text_styles import guess_text_style
from nanococoa_mcp.ad.hints import ProductPoint, hints_from_request
from nanococoa_mcp.ad.images import DecodedImage
from nanococoa_mcp.ad.kind import input_file
from nanococoa_mcp.ad.pipeline import AdRequest, ProgressEvent, TextPosition
from nanococoa_mcp.errors import InvalidInput, NotFound
from nanococoa_mcp.jobs.models import JobState, JobStatus
from nanococoa_mcp.service import Service, get_service
from nanococoa_mcp.tools.common import ProductBox, ProductPoints, read_image_input
from nanococoa_mcp.tools.context import progress_sink

JobId = Annotated[
    str,
    Field(description="A job id from generate_ad_image, generate_homepage or list_jobs.", min_length=1, max_length=64),
]
SCENE_FIELDS = ("style", "size", "variants", "seed")
HINT_FIELDS = {"product_box", "product_points"}
# The kinds of job the tools start (app.py registers each one with the job runtime).
JobKindName = Literal["ad", "homepage", "cutout", "analysis"]


class AdFields(BaseModel):
    """The ad's own fields as a door received them; None means the default (or, for a child, the parent's)."""

    model_config = ConfigDict(extra="forbid")

    text_content: str | None = None
    sub_copy: str | None = None
    style: str | None = None
    text_style: str | None = None
    size: str | None = None
    variants: int | None = None
    seed: int | None = None
    text_position: TextPosition | None = None
    product_box: list[float] | None = None
    product_points: list[ProductPoint] | None = None


async def submit_ad(
    service: Service,
    fields: AdFields,
    image: DecodedImage | None,
    *,
    parent_id: str | None = None,
    start_step: int = 1,
    extras: dict[str, Any] | None = None,
) -> JobStatus:
    """Validate everything, then queue the job. A refused request creates no job and no file.
    Raises InvalidInput naming the field (the seed's `test_mode=true` among them).

    From step 2 the scene (style, size, variants, seed) is the parent's and the copy fields are new;
    from step 3 everything is the parent's (the stored text layer is composited again).
    """
    given = {k: v for k, v in {**fields.model_dump(exclude=HINT_FIELDS), **(extras or {})}.items() if v is not None}
    hints_given = fields.product_box is not None or fields.product_points is not None
    if given.get("test_mode"):  # asked of this request only: a stored job keeps the flag it was given
        raise InvalidInput(
            "test_mode=true is not supported: the seed sends this flag but never says what a test run does",
            field="test_mode",
            accepted="false, or leave it out (every run here is a real one; the embedded backends need no models)",
        )
    if parent_id is None:
        if start_step != 1:
            raise InvalidInput(
                "a job from step 2 or 3 reuses a parent's earlier steps", field="parent_id", accepted="a job id"
            )
        if "text_content" not in given:
            raise InvalidInput("the ad copy is missing", field="copy", accepted="1-40 characters of Korean copy")
        if image is None:
            raise InvalidInput("no product photo was given", field="product_image", accepted="an image")
        request = AdRequest.model_validate({**given, **_hints(fields, image, None)})
    else:
        if not 1 <= start_step <= 3:
            raise InvalidInput(f"start_step {start_step} does not exist", field="start_step", accepted="1, 2 or 3")
        try:
            parent = await service.status(parent_id, metrics=False)
        except NotFound as exc:  # unknown, or another tenant's
            exc.field, exc.accepted = "parent_id", "the id of one of your own jobs (list_jobs)"
            raise
        inherited: dict[str, Any] = dict(parent.parameters)
        if start_step == 1:
            inherited.update(_hints(fields, image, inherited) if hints_given or image is not None else {})
        elif hints_given:
            raise InvalidInput(
                "the product box and points shape the cut-out of step 1, which a re-run from step "
                f"{start_step} keeps from the parent",
                field="product_box" if fields.product_box is not None else "product_points",
                accepted="leave them out, or re-run from start_step 1",
            )
        if start_step == 2:
            clash = [k for k in SCENE_FIELDS if k in given and given[k] != inherited.get(k)]
            if clash:
                raise InvalidInput(
                    f"{', '.join(clash)} belong to step 1, which a step-2 re-run keeps from the parent",
                    field=clash[0],
                    accepted="leave it out, or re-run from start_step 1",
                )
            inherited.update(given)
        elif start_step == 1:
            inherited.update(given)
        request = AdRequest.model_validate(inherited)
    upload = input_file(image) if image is not None and start_step == 1 else None
    return await service.submit(
        "ad", request.model_dump(mode="json"), input_file=upload, parent_id=parent_id, start_step=start_step
    )


def _hints(fields: AdFields, image: DecodedImage | None, parent: dict[str, Any] | None) -> dict[str, Any]:
    """The hints a step-1 job keeps, in pixels of its photo, with that photo's size: the request's, checked
    against its photo (`image`, else the parent's photo, whose size the parent kept). A new photo without
    hints has none: the parent's were pixels of another photo. Raises InvalidInput naming the hint."""
    if image is not None:
        h, w = image.rgba.shape[:2]
    elif parent is not None and parent.get("photo_size"):
        w, h = parent["photo_size"]
    else:  # a parent stored before its photo's size was kept
        raise InvalidInput(
            "new hints for the parent's photo need the photo again", field="product_image", accepted="the photo"
        )
    hints = hints_from_request(fields.product_box, fields.product_points, w, h)
    return {**hints.model_dump(mode="json"), "photo_size": [w, h]}


async def generate_ad_image(
    copy: Annotated[
        str | None,
        Field(description="Main ad copy in Korean, 1-40 characters, e.g. '건어물 대박 세일'. Required for a new ad."),
    ] = None,
    product_image_path: Annotated[str | None, Field(description="Path of the product photo on this machine.")] = None,
    product_image: Annotated[str | None, Field(description="The product photo as base64 (data: URL ok).")] = None,
    sub_copy: Annotated[str | None, Field(description="Optional second line: price, period, place.")] = None,
    style: Annotated[
        str | None, Field(
            description="Scene style (list_styles), e.g. 미니멀, 카페, 전통시장 분위기. Default: chosen from the copy "
            "and the product's colours (빙수 → 여름, 한우 선물세트 → 고급스러운); the result says why."
        )
    ] = None,
    text_style: Annotated[
        str | None,
        Field(description="Text style (list_styles), e.g. 골드 풍선, 네온. Default: chosen from the copy, scene."),
    ] = None,
    size: Annotated[
        str | None, Field(description=f"Size preset: 1:1, 4:5, 9:16, seed (800×1200), banner. Default {DEFAULT_SIZE}.")
    ] = None,
    variants: Annotated[int | None, Field(ge=1, le=4, description="Different scene/layout choices (1-4).")] = None,
    seed: Annotated[int | None, Field(ge=0, le=2**31 - 1, description="Same seed, same ad. Default 0.")] = None,
    text_position: Annotated[
        TextPosition | None, Field(description="Where the copy goes; auto (default) picks the best empty space.")
    ] = None,
    product_box: ProductBox = None,
    product_points: ProductPoints = None,
    parent_id: Annotated[
        str | None, Field(description="Re-run a finished (or resumable) job from start_step, as a new job.")
    ] = None,
    start_step: Annotated[
        int,
        Field(
            ge=1,
            le=3,
            description="With parent_id: 2 = new copy/text style on the parent's scene; 3 = composite again.",
        ),
    ] = 1,
    bg_prompt: Annotated[
        str | None,
        Field(max_length=1000, description="English scene prompt for a diffusion scene backend (the seed's)."),
    ] = None,
    use_llm_html: Annotated[
        bool | None, Field(description="Let the configured LLM design the copy's HTML/CSS (the seed's flag).")
    ] = None,
    text_content: Annotated[
        str | None, Field(description="The seed's name for `copy` (its homepage client sends this); give one of them.")
    ] = None,
    background_prompt: Annotated[
        str | None,
        Field(max_length=1000, description="The seed's name for `bg_prompt`; a style it names picks the scene."),
    ] = None,
    text_prompt: Annotated[
        str | None,
        Field(
            max_length=1000,
            description="The seed's text style prompt (its html_style_prompt): how the copy should look, for an LLM "
            "copy design; a text style it names (e.g. 'gold balloon', '네온') picks the text style.",
        ),
    ] = None,
    use_qwen_analysis: Annotated[
        bool | None, Field(description="Use the configured Qwen2-VL layout analysis (default true when set up).")
    ] = None,
    wait: Annotated[
        bool, Field(description="Wait for the ad (with progress) instead of returning the job id at once.")
    ] = False,
    wait_timeout_sec: Annotated[
        float, Field(gt=0, le=300, description="With wait: the longest to wait before returning the running job.")
    ] = 120.0,
) -> JobStatus:
    """Start a finished ad: cut the product out, set it in a new scene with a shadow, typeset the copy
    where it reads best (never over the product), and check the result. Returns the job at once (poll
    check_generation_status), or with wait=true the finished job: file paths, a quality report per
    variant and the layout analysis. If you can see the photo and it is cluttered or holds several
    objects, give product_box around the product. When a result's quality report says
    layout_mode=photo_card (or cutout_low_confidence), re-run it with parent_id, start_step=1 and a
    product_box to get the product cut out instead."""
    service = get_service()
    settings = service.settings
    copy = _one_of("copy", copy, "text_content", text_content)
    bg_prompt = _one_of("bg_prompt", bg_prompt, "background_prompt", background_prompt)
    if style is None and bg_prompt:  # the seed picks its scene by the prompt
        named = guess_style(bg_prompt)
        style = named.id if named is not None else None
    if text_style is None and text_prompt:
        named_text = guess_text_style(text_prompt)
        text_style = named_text.id if named_text is not None else None
    fields = AdFields(
        text_content=copy,
        sub_copy=sub_copy,
        style=style,
        text_style=text_style,
        size=size,
        variants=variants,
        seed=seed,
        text_position=text_position,
        product_box=product_box,
        product_points=product_points,
    )
    image = None
    if start_step == 1 and (product_image_path or product_image or parent_id is None):
        image = await asyncio.to_thread(read_image_input, product_image_path, product_image, settings)
    extras = {
        "bg_prompt": bg_prompt,
        "html_style_prompt": text_prompt,
        "use_llm_html": use_llm_html,
        "use_qwen_analysis": use_qwen_analysis,
    }
    status = await submit_ad(service, fields, image, parent_id=parent_id, start_step=start_step, extras=extras)
    if not wait:
        return status
    sink = progress_sink.get()

    def on_update(st: JobStatus) -> None:
        if sink is not None:
            step = st.current_step or "queued"
            message = st.message or ("Waiting for a worker" if st.status == "queued" else "")
            sink(ProgressEvent(st.progress_percent, step, st.sub_step or st.status, message, 0))

    return await service.wait(status.job_id, min(wait_timeout_sec, settings.max_wait_sec), on_update)


def _one_of(name: str, value: str | None, alias: str, alias_value: str | None) -> str | None:
    """A field given under our name or the seed's; both, and different, is refused naming the alias."""
    if value is not None and alias_value is not None and value != alias_value:
        raise InvalidInput(
            f"{name} and {alias} are the same field and were given different values",
            field=alias,
            accepted=f"one of {name} or {alias} (the seed's name)",
        )
    return value if value is not None else alias_value


async def check_generation_status(job_id: JobId) -> JobStatus:
    """Where a job stands: status, percent, current step, ETA learnt from past jobs, system metrics,
    previews of finished steps and, once completed, the files and quality report. Works for homepage
    jobs too: current_step is the workflow node, and `result` the finished site."""
    return await get_service().status(job_id)


async def stop_generation(job_id: JobId) -> JobStatus:
    """Stop a job: a queued one at once, a running one at its next checkpoint (killed if it does not
    answer within the grace period). A finished job is left as it is. Ad and homepage jobs alike."""
    return await get_service().stop(job_id)


class JobSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str
    kind: str = Field(description="ad, homepage, cutout or analysis.")
    status: JobState
    progress_percent: float
    current_step: str | None
    message: str | None
    text_content: str = Field(description="The job's ad copy; for a homepage job, the store's name.")
    parent_id: str | None
    start_step: int
    created_at: float
    final_result: str | None = Field(description="Path of the finished ad (first variant), once done.")


class JobList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: list[JobSummary] = Field(description="Newest first.")


def summarize(st: JobStatus) -> JobSummary:
    return JobSummary(
        job_id=st.job_id,
        kind=st.kind,
        status=st.status,
        progress_percent=st.progress_percent,
        current_step=st.current_step,
        message=st.message,
        text_content=str(st.parameters.get("text_content" if st.kind == "ad" else "store_name", "")),
        parent_id=st.parent_id,
        start_step=st.start_step,
        created_at=st.created_at,
        final_result=st.final_result,
    )


async def list_jobs(
    status: Annotated[JobState | None, Field(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Field(ge=1, le=200, description="At most this many, newest first.")] = 20,
    kind: Annotated[
        JobKindName | None, Field(description="Only jobs of this kind: ad, homepage, cutout or analysis.")
    ] = None,
) -> JobList:
    """List recent jobs (ads, homepages, cut-outs, analyses), newest first, optionally only those queued,
    running, completed, failed or stopped, or of one kind."""
    return JobList(jobs=[summarize(st) for st in await get_service().jobs(status, limit, kind)])
