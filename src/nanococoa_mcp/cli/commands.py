"""The `nanococoa` command: make ads, cut-outs and analyses from the shell; serve MCP over stdio."""

from __future__ import annotations

import asyncio
import contextlib
import json
import platform
import shutil
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nanococoa_mcp.errors import InvalidInput, NanococoaError
from nanococoa_mcp.jobs.models import STATES

if TYPE_CHECKING:
    from nanococoa_mcp.cli.batch import CutoutReport
    from nanococoa_mcp.settings import Settings

app = typer.Typer(
    help="nanococoa: Korean product ads from one photo and one line of copy.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)


@app.callback()
def _settings_first() -> None:
    # Every command starts from valid settings: a bad NANOCOCOA_* value (an unregistered backend name, a
    # port that is not a number) is refused before anything runs, naming the variable and what it accepts.
    from pydantic import ValidationError

    from nanococoa_mcp.ad.backends.registry import check_settings
    from nanococoa_mcp.settings import get_settings

    try:
        check_settings(get_settings())
    except ValidationError as exc:
        for e in exc.errors():
            name = "NANOCOCOA_" + "_".join(str(p) for p in e["loc"]).upper()
            err.print(f"error (invalid_settings): {name}: {e['msg']}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    except InvalidInput as exc:
        err.print(f"error (invalid_settings): {exc.field}: {exc.message} ({exc.accepted})", markup=False,
                  highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None


def _fail(exc: NanococoaError) -> typer.Exit:
    err.print(f"[bold red]error[/] ({exc.code}): {exc.message}")
    if exc.field:
        err.print(f"  field: {exc.field}")
    if exc.accepted:
        err.print(f"  accepted: {exc.accepted}")
    return typer.Exit(code=2)


def _check_out_path(path: Path, suffix: str) -> None:
    if path.suffix.lower() != suffix:
        raise NanococoaError(f"the output file must end in {suffix}", field="--out", accepted=f"e.g. ad{suffix}")
    if not path.parent.exists():
        raise NanococoaError(f"the folder {path.parent} does not exist", field="--out")


BoxOpt = Annotated[
    str | None,
    typer.Option(
        "--box",
        metavar="x0,y0,x1,y1",
        help="Where the product is, in pixels of the photo (after EXIF rotation) or as fractions 0-1 of its "
        "width and height when all four are <= 1: helps on cluttered photos and low confidence.",
    ),
]
PointOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--point",
        metavar="x,y[,bg]",
        help="A click on the product (x,y) or on what is not the product (x,y,bg); repeat for more.",
    ),
]
POINT_LABELS = {"": "product", "product": "product", "fg": "product", "bg": "background", "background": "background"}


def _hint_options(box: str | None, points: list[str] | None) -> tuple[list[float] | None, list[Any] | None]:
    """--box and --point as the tools take them. Raises InvalidInput naming the option."""
    from nanococoa_mcp.ad.hints import ProductPoint

    box_values = None
    if box is not None:
        try:
            box_values = [float(v) for v in box.split(",")]
        except ValueError:
            box_values = []
        if len(box_values) != 4:
            raise InvalidInput(f"--box {box!r} is not four numbers", field="--box",
                               accepted="x0,y0,x1,y1 in pixels, or fractions 0-1")
    clicks = []
    for i, text in enumerate(points or ()):
        parts = [p.strip() for p in text.split(",")]
        label = POINT_LABELS.get(parts[2].lower() if len(parts) == 3 else "")
        try:
            x, y = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            label = None
        if len(parts) not in (2, 3) or label is None:
            raise InvalidInput(f"--point {text!r} is not x,y or x,y,bg", field=f"--point {i}",
                               accepted="x,y (on the product) or x,y,bg (not the product)")
        clicks.append(ProductPoint(x=x, y=y, label=label))
    return box_values, clicks or None


@contextlib.contextmanager
def _progress_bar(where_key: str) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A transient progress bar on stderr; yields the callback that feeds it a job status."""
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
    with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("starting", total=100)

        def on_status(st: dict[str, Any]) -> None:
            where = st.get(where_key) or st["status"]
            message = st.get("message") or ""
            bar.update(task, completed=st["progress_percent"], description=f"[cyan]{where}[/] {message}")

        yield on_status


def _server_client(server: str, settings: Any) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    return httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=60.0)


def _http_error(response: Any) -> NanococoaError:
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text[:200]}
    exc = NanococoaError(
        body.get("message", f"HTTP {response.status_code}"), field=body.get("field"), accepted=body.get("accepted")
    )
    exc.code = body.get("error", f"http_{response.status_code}")
    return exc


def _generate_remote(client: Any, server: str, photo: Path, fields: dict[str, Any], on_status: Any) -> Any:
    """Submit to a running server and follow the job to its end; returns its final status."""
    import base64
    import time

    if not photo.is_file():
        raise NanococoaError(f"no file at {photo}", field="photo", accepted="an existing image file")
    body = {
        **{k: v for k, v in fields.items() if v is not None},
        "product_image": base64.b64encode(photo.read_bytes()).decode(),
    }
    if body.get("product_points"):
        body["product_points"] = [p.model_dump(mode="json") for p in body["product_points"]]
    try:
        r = client.post("/generate", json=body)
        if r.status_code != 202:
            raise _http_error(r)
        job_id = r.json()["job_id"]
        try:
            while True:
                r = client.get(f"/status/{job_id}")
                if r.status_code != 200:
                    raise _http_error(r)
                st = r.json()
                on_status(st)
                if st["status"] in ("completed", "failed", "stopped"):
                    return st
                time.sleep(0.25)
        except KeyboardInterrupt:
            client.post(f"/stop/{job_id}")
            raise
    except Exception as exc:
        import httpx

        if isinstance(exc, httpx.HTTPError):
            raise NanococoaError(
                f"cannot reach {server}: {exc}", field="--server", accepted="the URL of a running `nanococoa serve`"
            ) from exc
        raise


def _generate_local(photo: Path, fields: dict[str, Any], on_status: Any) -> Any:
    from nanococoa_mcp.app import service_running
    from nanococoa_mcp.settings import get_settings
    from nanococoa_mcp.tools.ads import AdFields, submit_ad
    from nanococoa_mcp.tools.common import read_image_input

    settings = get_settings()

    async def run() -> Any:
        image = read_image_input(str(photo), None, settings)
        async with service_running(settings) as service:
            extras = {k: fields.pop(k) for k in ("use_llm_html",) if k in fields}
            st = await submit_ad(service, AdFields(**fields), image, extras=extras)
            done = await service.wait(st.job_id, 24 * 3600, lambda s: on_status(s.model_dump(mode="json")))
            return done.model_dump(mode="json")

    return asyncio.run(run())


@app.command()
def generate(
    photo: Annotated[Path, typer.Argument(help="Product photo (JPEG, PNG, WebP, HEIC, TIFF, BMP).")],
    copy: Annotated[str, typer.Option("--copy", help="Main ad copy in Korean (1-40 characters).")],
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the ad PNG (report: same name .json).")],
    sub_copy: Annotated[str | None, typer.Option("--sub-copy", help="Second line: price, period, place.")] = None,
    style: Annotated[
        str | None, typer.Option(help="Scene style (see `nanococoa styles`); default: chosen from the copy.")
    ] = None,
    text_style: Annotated[
        str | None, typer.Option("--text-style", help="Text style (see `nanococoa styles`); default: chosen.")
    ] = None,
    size: Annotated[str, typer.Option(help="1:1, 4:5, 9:16, seed, banner.")] = "4:5",
    variants: Annotated[int, typer.Option(min=1, max=4, help="Number of different layouts (1-4).")] = 1,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same ad.")] = 0,
    text_position: Annotated[str, typer.Option("--text-position", help="auto, top, bottom, left, right.")] = "auto",
    server: Annotated[
        str | None, typer.Option("--server", help="URL of a running `nanococoa serve`; default: run in-process.")
    ] = None,
    use_llm_html: Annotated[
        bool, typer.Option("--use-llm-html", help="Let the configured LLM design the copy (NANOCOCOA_LLM_*).")
    ] = False,
    box: BoxOpt = None,
    point: PointOpt = None,
) -> None:
    """Make a finished ad from a product photo and a line of Korean copy."""
    from nanococoa_mcp.ad.results import StoredAd
    from nanococoa_mcp.settings import get_settings

    fields: dict[str, Any] = {
        "text_content": copy,
        "sub_copy": sub_copy,
        "style": style,
        "text_style": text_style,
        "size": size,
        "variants": variants,
        "seed": seed,
        "text_position": text_position,
    }
    if use_llm_html:
        fields["use_llm_html"] = True
    client = None
    try:
        _check_out_path(out_path, ".png")
        fields["product_box"], fields["product_points"] = _hint_options(box, point)
        if text_position not in ("auto", "top", "bottom", "left", "right"):
            raise NanococoaError(
                f"unknown text position {text_position!r}",
                field="--text-position",
                accepted="auto, top, bottom, left, right",
            )
        with _progress_bar("sub_step") as on_status:
            if server:
                client = _server_client(server, get_settings())
                status = _generate_remote(client, server, photo, fields, on_status)
            else:
                status = _generate_local(photo, fields, on_status)
        if status["status"] != "completed":
            error = status.get("error") or {}
            raise NanococoaError(
                error.get("message") or f"the job ended {status['status']}",
                field=error.get("field"),
                accepted=error.get("accepted"),
            )
        result = StoredAd.model_validate(status["result"])
        written = []
        for v in result.variants:
            target = out_path if v.index == 0 else out_path.with_name(f"{out_path.stem}-{v.index + 1}{out_path.suffix}")
            if client is not None:  # the files live on the server: fetch them
                r = client.get(f"/files/{result.job_id}/{Path(v.image_path).name}")
                if r.status_code != 200:
                    raise _http_error(r)
                target.write_bytes(r.content)
            else:
                shutil.copyfile(v.image_path, target)
            written.append(target)
    except NanococoaError as exc:
        from nanococoa_mcp.cli.batch import option_name

        exc.field = option_name(exc.field)
        raise _fail(exc) from None
    finally:
        if client is not None:
            client.close()
    out_path.with_suffix(".json").write_text(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
    for v, path in zip(result.variants, written, strict=True):
        q = v.quality
        verdict = "[green]passed[/]" if q.passed else "[red]FAILED[/]"
        out.print(f"{path}  {result.width}×{result.height}  {v.style} + {v.text_style}  {verdict}")
        if v.style_reason:
            out.print(f"  style: {v.style_reason}", markup=False, highlight=False)
        out.print(
            f"  contrast {q.contrast_ratio:.1f}:1{' (plate added)' if q.plate_added else ''} · "
            f"copy over product {q.text_product_overlap_px} px · product pixels changed "
            f"{q.product_pixels_changed} · font {q.font} {q.font_size_px}px"
        )
        for note in q.notes:
            out.print(f"  [yellow]note:[/] {escape(note)}", highlight=False)
    first = result.variants[0].quality
    if first.layout_mode == "photo_card":
        out.print(f"[yellow]photo card:[/] {escape(first.layout_mode_reason or '')}", highlight=False)
        low = ""
    else:
        low = " [yellow](low: check the product's edges)[/]" if result.cutout_confidence < 0.6 else ""
    out.print(f"report: {out_path.with_suffix('.json')} · cut-out confidence {result.cutout_confidence:.2f}{low}")
    out.print(f"job: {result.job_id}")


def _read_store_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise NanococoaError(f"no file at {path}", field="STORE.json", accepted="a JSON file of the store's record")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NanococoaError(f"{path} is not JSON ({exc})", field="STORE.json", accepted="UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise NanococoaError(f"{path} is not a JSON object", field="STORE.json", accepted="the seed's CustomerData")
    return data


def _homepage_local(record: dict[str, Any], photos: list[Path], on_status: Any) -> Any:
    from nanococoa_mcp.app import service_running
    from nanococoa_mcp.settings import get_settings
    from nanococoa_mcp.stores import check_record
    from nanococoa_mcp.tools.homepage import submit_homepage
    from nanococoa_mcp.tools.stores import read_photos

    settings = get_settings()
    check_record(record)  # refused before the service (and its worker) starts
    try:
        images = read_photos([str(p) for p in photos], None, settings)
    except NanococoaError as exc:
        exc.field = (exc.field or "").replace("photo_paths", "--photo")
        raise

    async def run() -> Any:
        async with service_running(settings) as service:
            store = await service.stores.create(record, images)
            st = await submit_homepage(service, store.store_id)
            done = await service.wait(st.job_id, 24 * 3600, lambda s: on_status(s.model_dump(mode="json")))
            return done.model_dump(mode="json")

    return asyncio.run(run())


def _homepage_remote(client: Any, server: str, record: dict[str, Any], photos: list[Path], on_status: Any) -> Any:
    """Submit to a running server and follow the job to its end; returns its last /homepage/status answer."""
    import base64
    import time

    import httpx

    for i, photo in enumerate(photos):
        if not photo.is_file():
            raise NanococoaError(f"no file at {photo}", field=f"--photo[{i}]", accepted="an existing image file")
    body = {**record, "photos": [base64.b64encode(p.read_bytes()).decode() for p in photos]}
    try:
        r = client.post("/homepage/generate", json=body)
        if r.status_code not in (200, 202):
            raise _http_error(r)
        st = r.json()
        try:
            while st["status"] not in ("success", "failed", "stopped"):
                on_status(st)
                time.sleep(0.5)
                r = client.get(st["status_url"])
                if r.status_code != 200:
                    raise _http_error(r)
                st = r.json()
        except KeyboardInterrupt:
            client.post(f"/stop/{st['job_id']}")
            raise
        return st
    except httpx.HTTPError as exc:
        raise NanococoaError(
            f"cannot reach {server}: {exc}", field="--server", accepted="the URL of a running `nanococoa serve`"
        ) from exc


@app.command()
def homepage(
    store_json: Annotated[
        Path, typer.Argument(metavar="STORE.json", help="The shop's record (the seed's CustomerData).")
    ],
    photo: Annotated[list[Path], typer.Option("--photo", help="A product photo; repeat for more (up to 4).")],
    server: Annotated[
        str | None, typer.Option("--server", help="URL of a running `nanococoa serve`; default: run in-process.")
    ] = None,
) -> None:
    """Build a shop's small website (index, about, services, contact) from its record and product photos."""
    from nanococoa_mcp.settings import get_settings

    try:
        record = _read_store_json(store_json)
        with _progress_bar("current_step") as on_status:
            if server:
                with _server_client(server, get_settings()) as client:
                    done = _homepage_remote(client, server, record, photo, on_status)
                ended = "completed" if done["status"] == "success" else done["status"]
                result = {k: done.get(k) for k in ("output_path", "pages", "generated_images", "site_id")}
                result["zip_path"] = None
            else:
                done = _homepage_local(record, photo, on_status)
                ended, result = done["status"], done.get("result") or {}
        if ended != "completed":
            error = done.get("error") or {}
            raise NanococoaError(
                error.get("message") or f"the job ended {ended}",
                field=error.get("field"),
                accepted=error.get("accepted"),
            )
    except NanococoaError as exc:
        raise _fail(exc) from None
    out.print(f"site: {result['output_path']}", soft_wrap=True, highlight=False)
    out.print(f"pages: {', '.join(result['pages'])}", highlight=False)
    out.print(f"images made: {result['generated_images']}", highlight=False)
    if result.get("zip_path"):
        out.print(f"zip: {result['zip_path']}", soft_wrap=True, highlight=False)
    if server:
        from urllib.parse import quote

        preview = f"{server.rstrip('/')}/sites/{quote(result['site_id'])}/"
        out.print(f"preview: {preview}", soft_wrap=True, highlight=False)
    out.print(f"job: {done['job_id']}", highlight=False)


def _job_call(server: str | None, local: Any, remote: Any) -> Any:
    """Run `local(store)` against this machine's job database, or `remote(client)` against a server."""
    from nanococoa_mcp.settings import get_settings

    settings = get_settings()
    if server:
        import httpx

        try:
            with _server_client(server, settings) as client:
                r = remote(client)
        except httpx.HTTPError as exc:
            raise NanococoaError(f"cannot reach {server}: {exc}", field="--server") from exc
        if r.status_code >= 400:
            raise _http_error(r)
        return r.json()

    from nanococoa_mcp.app import job_store

    async def run() -> Any:
        async with job_store(settings) as store:
            return await local(store)

    return asyncio.run(run())


ServerOpt = Annotated[str | None, typer.Option("--server", help="URL of a running server; default: local jobs.")]


@app.command()
def status(job_id: Annotated[str, typer.Argument(help="Job id.")], server: ServerOpt = None) -> None:
    """Show a job's status (JSON)."""
    try:
        st = _job_call(
            server,
            lambda store: _dump(store.get(job_id)),
            lambda c: c.get(f"/status/{job_id}"),
        )
    except NanococoaError as exc:
        raise _fail(exc) from None
    out.print_json(json.dumps(st, ensure_ascii=False))


async def _dump(coro: Any) -> Any:
    value = await coro
    if isinstance(value, list):
        return [v.model_dump(mode="json") for v in value]
    return value.model_dump(mode="json")


@app.command()
def stop(job_id: Annotated[str, typer.Argument(help="Job id.")], server: ServerOpt = None) -> None:
    """Stop a job: a queued one at once, a running one at its next checkpoint."""
    try:
        st = _job_call(
            server,
            lambda store: _dump(store.request_stop(job_id)),
            lambda c: c.post(f"/stop/{job_id}"),
        )
    except NanococoaError as exc:
        raise _fail(exc) from None
    out.print(f"{st['job_id']}: {st['status']}")


@app.command()
def jobs(
    server: ServerOpt = None,
    state: Annotated[str | None, typer.Option("--status", help="Only this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
) -> None:
    """List recent jobs, newest first."""
    if state is not None and state not in STATES:
        raise _fail(
            NanococoaError(
                f"unknown status {state!r}", field="--status", accepted=", ".join(STATES)
            )
        )
    try:
        listed = _job_call(
            server,
            lambda store: _dump(store.list_jobs(state, limit)),
            lambda c: c.get("/api/jobs", params={"limit": limit, **({"status": state} if state else {})}),
        )
    except NanococoaError as exc:
        raise _fail(exc) from None
    rows = listed["jobs"] if isinstance(listed, dict) else listed
    # One line per job, the whole id first: easy to read, to grep and to paste into `nanococoa status`.
    for j in rows:
        copy_text = j.get("text_content") or j.get("parameters", {}).get("text_content", "")
        step = j.get("current_step") or "-"
        line = f"{j['job_id']}  {j['status']:<9} {j['progress_percent']:>4.0f}%  {step:<16} {copy_text}"
        out.print(line, soft_wrap=True, highlight=False, markup=False)
    if not rows:
        out.print("no jobs")


@app.command()
def cutout(
    photos: Annotated[list[Path], typer.Argument(metavar="PHOTO...", help="Product photos.")],
    out_path: Annotated[
        Path | None, typer.Option("--out", help="With one photo: the RGBA PNG to write (its JSON beside it).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Write <name>.png and <name>.json for each photo here.")
    ] = None,
    box: BoxOpt = None,
    point: PointOpt = None,
) -> None:
    """Cut the product out of each photo: an RGBA PNG and a JSON (confidence, method, bbox, hint_used, size,
    seconds) beside it. All in this process, the cut-out backend kept warm; a bad photo is reported and the
    others go on (the exit code is then 2). With several photos, give --box as fractions."""
    from nanococoa_mcp.cli.batch import Failure, cut_out_all, targets
    from nanococoa_mcp.settings import get_settings

    try:
        if (out_path is None) == (out_dir is None):
            raise InvalidInput("give --out (one photo) or --out-dir", field="--out", accepted="one of them")
        if out_path is not None:
            if len(photos) != 1:
                raise InvalidInput(f"--out takes one photo; {len(photos)} were given", field="--out",
                                   accepted="--out-dir for several photos")
            _check_out_path(out_path, ".png")
        elif out_dir is not None:
            if out_dir.exists() and not out_dir.is_dir():
                raise InvalidInput(f"{out_dir} is not a folder", field="--out-dir", accepted="a folder")
            out_dir.mkdir(parents=True, exist_ok=True)
        box_values, clicks = _hint_options(box, point)
    except NanococoaError as exc:
        raise _fail(exc) from None
    work = list(zip(photos, targets(photos, out_path, out_dir), strict=True))
    with contextlib.ExitStack() as stack:
        progress: Progress | None = None
        if err.is_terminal:
            columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
            progress = stack.enter_context(Progress(*columns, TimeElapsedColumn(), console=err, transient=True))
            task = progress.add_task("cutting out", total=len(work))

        def done(photo: Path, result: CutoutReport | Failure) -> None:
            if isinstance(result, Failure):
                _say_failed(photo, result.error)
            else:
                _say_cut(result)
            if progress is not None:
                progress.update(task, advance=1, description=photo.name)

        results = cut_out_all(get_settings(), work, box_values, clicks, done)
    failed = sum(isinstance(r, Failure) for r in results)
    if failed:
        err.print(f"{failed} of {len(results)} photo(s) failed", markup=False, highlight=False)
        raise typer.Exit(code=2)


def _say_cut(r: CutoutReport) -> None:
    low = ""
    if r.low_confidence:
        low = " (low: check the edges)" if r.hint_used else " (low: check the edges, or give --box)"
    hint = " hint_used" if r.hint_used else ""
    out.print(f"{r.cutout}  {r.width}×{r.height}  method={r.method}  confidence={r.confidence:.2f}{hint}  "
              f"{r.seconds:.2f}s{low}", markup=False, highlight=False, soft_wrap=True)


def _say_failed(photo: Path, exc: NanococoaError) -> None:
    detail = "".join(f"; {k}: {v}" for k, v in (("field", exc.field), ("accepted", exc.accepted)) if v)
    err.print(f"error ({exc.code}): {photo}: {exc.message}{detail}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def analyze(image: Annotated[Path, typer.Argument(help="Image to analyse (e.g. a step-1 scene or an ad).")]) -> None:
    """Print the layout analysis JSON (the seed's Qwen2-VL shape)."""
    from nanococoa_mcp.app import service_running
    from nanococoa_mcp.tools.images import analyze_layout

    async def run() -> Any:
        async with service_running():  # the analysis runs in a worker process, as behind the server
            return await analyze_layout(image_path=str(image), wait_timeout_sec=300)

    try:
        result = asyncio.run(run())
    except NanococoaError as exc:
        raise _fail(exc) from None
    if result.analysis is None:
        raise _fail(NanococoaError(f"the analysis is still {result.status}", field="job_id", accepted=result.job_id))
    print(json.dumps(result.analysis, ensure_ascii=False, indent=2))


@app.command()
def fonts() -> None:
    """List the Korean fonts and whether they are installed."""
    from nanococoa_mcp.ad.catalog.fonts import list_fonts

    table = Table(title="Korean fonts")
    for col in ("id", "name", "category", "installed", "Hangul", "package"):
        table.add_column(col)
    for f in list_fonts():
        table.add_row(
            f.id,
            f.name_ko,
            f.category,
            "[green]yes[/]" if f.available else "[red]no[/]",
            f"{f.hangul_syllables}/11172",
            f.package,
        )
    out.print(table)


@app.command()
def styles() -> None:
    """List scene styles, text styles and sizes."""
    from nanococoa_mcp.tools.catalog import list_styles

    cat = asyncio.run(list_styles())
    for title, entries in (
        ("scene styles (--style)", cat.scene_styles),
        ("text styles (--text-style)", cat.text_styles),
    ):
        table = Table(title=title)
        for col in ("id", "한국어", "English", "description"):
            table.add_column(col)
        for e in entries:
            table.add_row(e.id, e.name_ko, e.name_en, e.description)
        out.print(table)
    table = Table(title="sizes (--size)")
    for col in ("id", "pixels", "use"):
        table.add_column(col)
    for s in cat.sizes:
        table.add_row(s.id, f"{s.width}×{s.height}", s.description)
    out.print(table)


@app.command()
def doctor() -> None:
    """Check what the studio needs: Chromium, Korean fonts, library versions, and every stage backend."""
    from nanococoa_mcp.ad.catalog.fonts import list_fonts
    from nanococoa_mcp.ad.stages.render import Renderer, find_chromium
    from nanococoa_mcp.settings import get_settings

    ok = True
    table = Table(title="nanococoa doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail")
    table.add_row("python", "[green]ok[/]", f"{platform.python_version()} ({sys.executable})")
    for pkg in ("nanococoa-mcp", "fastmcp", "mcp", "playwright", "opencv-python-headless", "numpy", "pillow"):
        try:
            table.add_row(pkg, "[green]ok[/]", metadata.version(pkg))
        except metadata.PackageNotFoundError:
            ok = False
            table.add_row(pkg, "[red]missing[/]", "pip install -e .")
    try:
        path = find_chromium(get_settings().chromium_path)
        table.add_row("chromium", "[green]ok[/]", str(path))
        try:
            with Renderer(path) as renderer:
                renderer._ensure()
            table.add_row("chromium launch", "[green]ok[/]", "headless start and stop")
        except NanococoaError as exc:
            ok = False
            table.add_row("chromium launch", "[red]failed[/]", exc.message)
    except NanococoaError as exc:
        ok = False
        table.add_row("chromium", "[red]missing[/]", f"{exc.message}; {exc.accepted}")
    fonts_ok = [f for f in list_fonts() if f.available and f.hangul_syllables == 11172]
    missing = sorted({f.package for f in list_fonts() if not f.available})
    status = "[green]ok[/]" if fonts_ok else "[red]missing[/]"
    ok = ok and bool(fonts_ok)
    detail = f"{len(fonts_ok)} fonts with full Hangul" + (
        f"; missing packages: {', '.join(missing)}" if missing else ""
    )
    table.add_row("korean fonts", status, detail)
    table.add_row("data dir", "[green]ok[/]", str(get_settings().data_dir))
    out.print(table)
    if not _doctor_backends(get_settings()):
        ok = False
    if not ok:
        raise typer.Exit(code=1)


def _doctor_backends(settings: Settings) -> bool:
    """Every backend in the registry: configured or not, usable or not, and exactly what it lacks. False
    when a configured one cannot run (its stage falls back to the embedded backend)."""
    from nanococoa_mcp.ad.backends.registry import backend_report

    report = backend_report(settings)
    table = Table(title="backends (NANOCOCOA_<STAGE>_BACKEND picks one per stage)")
    for col in ("stage", "backend", "configured", "status"):
        table.add_column(col)
    for b in report:
        colour = "red" if b.configured else "yellow"
        status = "[green]usable[/]" if b.usable else f"[{colour}]unusable[/]"
        table.add_row(b.stage, b.backend, "yes" if b.configured else "", status)
    out.print(table)
    for b in report:
        if not b.usable:
            # Paths are printed whole, one to a line (no wrapping), so they can be copied.
            out.print(f"{b.stage}: {b.backend} lacks", soft_wrap=True, markup=False)
            for item in b.missing:
                out.print(f"  {item}", soft_wrap=True, markup=False, highlight=False)
            out.print(f"  {b.reason}", style="dim", soft_wrap=True, markup=False, highlight=False)
    return all(b.usable for b in report if b.configured)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 3000).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=0, max=16, help="Worker processes beside the API: embedded default 1; with PostgreSQL "
                     "default 0 (run `nanococoa worker` instead)."),
    ] = None,
) -> None:
    """Serve MCP over Streamable HTTP (/mcp) and legacy SSE (/sse) on one port, with /health."""
    from nanococoa_mcp.app import serve as run_http
    from nanococoa_mcp.locations import PostgresDatabase
    from nanococoa_mcp.settings import get_settings

    settings = get_settings().model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v})
    if workers is not None:
        distributed = isinstance(settings.database, PostgresDatabase)
        if not distributed and workers < 1:
            raise _fail(InvalidInput("the embedded stack needs a worker", field="--workers", accepted="1 to 16"))
        settings = settings.model_copy(update={"worker_processes" if distributed else "workers": workers})
    try:
        run_http(settings)
    except NanococoaError as exc:
        raise _fail(exc) from None


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=16, help="Jobs at once (one thread each, models shared "
                                             "warm); one worker per GPU (CUDA_VISIBLE_DEVICES).")] = 1,
    kinds: Annotated[str | None, typer.Option(help="Only these job kinds, comma-separated (ad, cutout, analysis); "
                                              "default all.")] = None,
) -> None:
    """Run jobs of the distributed stack (NANOCOCOA_DATABASE_URL=postgresql://...) until Ctrl-C or SIGTERM, which
    let the jobs under way finish (a second one exits at once; a killed worker's job runs again elsewhere)."""
    from nanococoa_mcp.app import worker as run_worker
    from nanococoa_mcp.settings import get_settings

    names = [k.strip() for k in kinds.split(",") if k.strip()] if kinds else None
    try:
        run_worker(get_settings(), concurrency=concurrency, kinds=names)
    except NanococoaError as exc:
        raise _fail(exc) from None


db_app = typer.Typer(help="The job database (NANOCOCOA_DATABASE_URL).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database NANOCOCOA_DATABASE_URL names (SQLite or PostgreSQL) and print its schema version.
    Safe to run again, and from several machines at once."""
    from nanococoa_mcp.db.upgrade import upgrade_database
    from nanococoa_mcp.settings import get_settings

    try:
        version = upgrade_database(get_settings().database)
    except NanococoaError as exc:
        raise _fail(exc) from None
    out.print(f"{version.database}: schema version {version.version} ({version.latest})", markup=False,
              highlight=False, soft_wrap=True)
    out.print(f"applied: {', '.join(version.applied) or 'nothing, already up to date'}", markup=False,
              highlight=False, soft_wrap=True)


def _add_keys() -> None:
    from nanococoa_mcp.cli.keys import keys_app  # after `out` and `_fail`, which its commands use

    app.add_typer(keys_app, name="keys")


_add_keys()


@app.command()
def mcp() -> None:
    """Serve the tools over MCP stdio (for desktop apps and coding agents)."""
    from nanococoa_mcp.app import run_stdio

    run_stdio()


if __name__ == "__main__":  # pragma: no cover
    app()
