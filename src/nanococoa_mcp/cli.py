"""The `nanococoa` command: make ads, cut-outs and analyses from the shell; serve MCP over stdio."""

from __future__ import annotations

import asyncio
import json
import platform
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nanococoa_mcp.errors import NanococoaError

app = typer.Typer(
    help="nanococoa: Korean product ads from one photo and one line of copy.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)


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


@app.command()
def generate(
    photo: Annotated[Path, typer.Argument(help="Product photo (JPEG, PNG, WebP, HEIC, TIFF, BMP).")],
    copy: Annotated[str, typer.Option("--copy", help="Main ad copy in Korean (1-40 characters).")],
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the ad PNG (report: same name .json).")],
    sub_copy: Annotated[str | None, typer.Option("--sub-copy", help="Second line: price, period, place.")] = None,
    style: Annotated[str, typer.Option(help="Scene style (see `nanococoa styles`).")] = "minimal",
    text_style: Annotated[
        str, typer.Option("--text-style", help="Text style (see `nanococoa styles`).")
    ] = "gold_balloon",
    size: Annotated[str, typer.Option(help="1:1, 4:5, 9:16, seed, banner.")] = "4:5",
    variants: Annotated[int, typer.Option(min=1, max=4, help="Number of different layouts (1-4).")] = 1,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same ad.")] = 0,
    text_position: Annotated[str, typer.Option("--text-position", help="auto, top, bottom, left, right.")] = "auto",
) -> None:
    """Make a finished ad from a product photo and a line of Korean copy."""
    from nanococoa_mcp.runtime import reset_host
    from nanococoa_mcp.tools.ads import generate_ad_image
    from nanococoa_mcp.tools.context import progress_sink

    try:
        _check_out_path(out_path, ".png")
        if text_position not in ("auto", "top", "bottom", "left", "right"):
            raise NanococoaError(
                f"unknown text position {text_position!r}",
                field="--text-position",
                accepted="auto, top, bottom, left, right",
            )
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("starting", total=100)

            def on_progress(event: Any) -> None:
                bar.update(task, completed=event.percent, description=f"[cyan]{event.sub_step}[/] {event.message}")

            progress_sink.set(on_progress)
            result = asyncio.run(
                generate_ad_image(
                    copy=copy,
                    product_image_path=str(photo),
                    sub_copy=sub_copy,
                    style=style,
                    text_style=text_style,
                    size=size,
                    variants=variants,
                    seed=seed,
                    text_position=text_position,  # type: ignore[arg-type]
                )
            )
    except NanococoaError as exc:
        raise _fail(exc) from None
    finally:
        reset_host()
    written = []
    for v in result.variants:
        target = out_path if v.index == 0 else out_path.with_name(f"{out_path.stem}-{v.index + 1}{out_path.suffix}")
        shutil.copyfile(v.image_path, target)
        written.append(target)
    out_path.with_suffix(".json").write_text(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
    for v, path in zip(result.variants, written, strict=True):
        q = v.quality
        verdict = "[green]passed[/]" if q.passed else "[red]FAILED[/]"
        out.print(f"{path}  {result.width}×{result.height}  {v.style} + {v.text_style}  {verdict}")
        out.print(f"  contrast {q.contrast_ratio:.1f}:1{' (plate added)' if q.plate_added else ''} · "
                  f"copy over product {q.text_product_overlap_px} px · product pixels changed "
                  f"{q.product_pixels_changed} · font {q.font} {q.font_size_px}px")
        for note in q.notes:
            out.print(f"  [yellow]note:[/] {note}")
    low = " [yellow](low: check the product's edges)[/]" if result.cutout_confidence < 0.6 else ""
    out.print(f"report: {out_path.with_suffix('.json')} · cut-out confidence {result.cutout_confidence:.2f}{low}")


@app.command()
def cutout(
    photo: Annotated[Path, typer.Argument(help="Product photo.")],
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the RGBA PNG.")],
) -> None:
    """Cut the product out of its photo (RGBA PNG)."""
    from nanococoa_mcp.runtime import reset_host
    from nanococoa_mcp.tools.images import remove_background

    try:
        _check_out_path(out_path, ".png")
        result = asyncio.run(remove_background(image_path=str(photo)))
    except NanococoaError as exc:
        raise _fail(exc) from None
    finally:
        reset_host()
    shutil.copyfile(result.cutout_path, out_path)
    note = " [yellow](low: check the edges)[/]" if result.low_confidence else ""
    out.print(
        f"{out_path}  {result.width}×{result.height}  method={result.method}  confidence={result.confidence:.2f}{note}"
    )


@app.command()
def analyze(image: Annotated[Path, typer.Argument(help="Image to analyse (e.g. a step-1 scene or an ad).")]) -> None:
    """Print the layout analysis JSON (the seed's Qwen2-VL shape)."""
    from nanococoa_mcp.runtime import reset_host
    from nanococoa_mcp.tools.images import analyze_layout

    try:
        result = asyncio.run(analyze_layout(image_path=str(image)))
    except NanococoaError as exc:
        raise _fail(exc) from None
    finally:
        reset_host()
    print(json.dumps(result.analysis, ensure_ascii=False, indent=2))


@app.command()
def fonts() -> None:
    """List the Korean fonts and whether they are installed."""
    from nanococoa_mcp.engine.fonts import list_fonts

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
    """Check what the studio needs: Chromium, Korean fonts, library versions."""
    from nanococoa_mcp.engine.fonts import list_fonts
    from nanococoa_mcp.engine.render import Renderer, find_chromium
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
    if not ok:
        raise typer.Exit(code=1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 3000).")] = None,
) -> None:
    """Serve MCP over Streamable HTTP (/mcp) and legacy SSE (/sse) on one port, with /health."""
    from nanococoa_mcp.server.http import serve as run_http
    from nanococoa_mcp.settings import get_settings

    settings = get_settings().model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v})
    try:
        run_http(settings)
    except NanococoaError as exc:
        raise _fail(exc) from None


@app.command()
def mcp() -> None:
    """Serve the tools over MCP stdio (for desktop apps and coding agents)."""
    from nanococoa_mcp.server.mcp import run_stdio

    run_stdio()


if __name__ == "__main__":  # pragma: no cover
    app()
