"""The Korean fonts we typeset with: where they are on disk, and which characters each can draw."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont
from pydantic import BaseModel, ConfigDict

from nanococoa_mcp.errors import InvalidInput


class FontSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    family: str  # the CSS family name Chromium finds through fontconfig
    weight: int  # CSS font-weight to ask for
    files: tuple[str, ...]  # candidate file names (first found wins)
    face_family: str  # family name inside the file (selects the face in a .ttc)
    category: str  # display | gothic | serif | hand
    name_ko: str
    package: str  # the Debian package that ships it


class FontInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    family: str
    weight: int
    name_ko: str
    category: str
    path: str | None
    available: bool
    hangul_syllables: int  # of the 11,172 modern Hangul syllables, how many it draws
    package: str


CATALOG: tuple[FontSpec, ...] = (
    FontSpec(
        id="bm-jua",
        family="BM JUA_TTF",
        weight=400,
        files=("BMJUA_ttf.ttf",),
        face_family="BM JUA_TTF",
        category="display",
        name_ko="배달의민족 주아",
        package="fonts-woowa-bm",
    ),
    FontSpec(
        id="bm-dohyeon",
        family="BM DoHyeon",
        weight=400,
        files=("BMDOHYEON_ttf.ttf",),
        face_family="BM DoHyeon",
        category="display",
        name_ko="배달의민족 도현",
        package="fonts-woowa-bm",
    ),
    FontSpec(
        id="bm-hanna-pro",
        family="BM HANNA Pro",
        weight=400,
        files=("BMHANNAPro.ttf",),
        face_family="BM HANNA Pro",
        category="display",
        name_ko="배달의민족 한나체 Pro",
        package="fonts-woowa-bm",
    ),
    FontSpec(
        id="bm-euljiro",
        family="BM EULJIRO TTF",
        weight=400,
        files=("BMEULJIROTTF.ttf",),
        face_family="BM EULJIRO TTF",
        category="display",
        name_ko="배달의민족 을지로체",
        package="fonts-woowa-bm",
    ),
    FontSpec(
        id="bm-yeonsung",
        family="BM YEONSUNG",
        weight=400,
        files=("BMYEONSUNG_ttf.ttf",),
        face_family="BM YEONSUNG",
        category="hand",
        name_ko="배달의민족 연성",
        package="fonts-woowa-bm",
    ),
    FontSpec(
        id="bm-kiranghaerang",
        family="BM KIRANGHAERANG",
        weight=400,
        files=("BMKIRANGHAERANG-TTF.ttf",),
        face_family="BM KIRANGHAERANG",
        category="hand",
        name_ko="배달의민족 기랑해랑",
        package="fonts-woowa-bm",
    ),
    FontSpec(
        id="nanum-square-round",
        family="NanumSquareRound",
        weight=800,
        files=("NanumSquareRoundEB.ttf", "NanumSquareRoundB.ttf"),
        face_family="NanumSquareRound",
        category="gothic",
        name_ko="나눔스퀘어라운드",
        package="fonts-nanum",
    ),
    FontSpec(
        id="nanum-myeongjo",
        family="NanumMyeongjo",
        weight=800,
        files=("NanumMyeongjoExtraBold.ttf", "NanumMyeongjoBold.ttf"),
        face_family="NanumMyeongjo",
        category="serif",
        name_ko="나눔명조",
        package="fonts-nanum",
    ),
    FontSpec(
        id="noto-sans-kr",
        family="Noto Sans CJK KR",
        weight=700,
        files=("NotoSansCJK-Bold.ttc",),
        face_family="Noto Sans CJK KR",
        category="gothic",
        name_ko="본고딕 (Noto Sans CJK KR)",
        package="fonts-noto-cjk",
    ),
    FontSpec(
        id="noto-serif-kr",
        family="Noto Serif CJK KR",
        weight=700,
        files=("NotoSerifCJK-Bold.ttc",),
        face_family="Noto Serif CJK KR",
        category="serif",
        name_ko="본명조 (Noto Serif CJK KR)",
        package="fonts-noto-cjk",
    ),
    FontSpec(
        id="nanum-pen",
        family="Nanum Pen Script",
        weight=400,
        files=("NanumPen.ttf",),
        face_family="Nanum Pen Script",
        category="hand",
        name_ko="나눔손글씨 펜",
        package="fonts-nanum-extra",
    ),
)

FONTS = {f.id: f for f in CATALOG}
DEFAULT_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))


@lru_cache(maxsize=8)
def _index_files(dirs: tuple[Path, ...]) -> dict[str, Path]:
    wanted = {name for spec in CATALOG for name in spec.files}
    found: dict[str, Path] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        for path in d.rglob("*"):
            if path.name in wanted and path.name not in found:
                found[path.name] = path
    return found


def font_path(spec: FontSpec, dirs: Iterable[Path] = DEFAULT_FONT_DIRS) -> Path | None:
    index = _index_files(tuple(dirs))
    for name in spec.files:
        if name in index:
            return index[name]
    return None


@lru_cache(maxsize=32)
def _cmap(path: str, face_family: str) -> frozenset[int]:
    if path.lower().endswith(".ttc"):
        collection = TTCollection(path, lazy=True)
        try:
            chosen = next((f for f in collection.fonts if _family_of(f) == face_family), collection.fonts[0])
            return frozenset(chosen.getBestCmap() or {})
        finally:
            collection.close()
    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap() or {})


def _family_of(font: TTFont) -> str:
    name = font["name"]
    return str(name.getDebugName(16) or name.getDebugName(1) or "")


def codepoints(spec: FontSpec, dirs: Iterable[Path] = DEFAULT_FONT_DIRS) -> frozenset[int]:
    path = font_path(spec, dirs)
    return frozenset() if path is None else _cmap(str(path), spec.face_family)


def missing_glyphs(spec: FontSpec, text: str, dirs: Iterable[Path] = DEFAULT_FONT_DIRS) -> list[str]:
    """Characters of `text` the font cannot draw (whitespace ignored), in order of first appearance."""
    cmap = codepoints(spec, dirs)
    seen: list[str] = []
    for ch in text:
        if ch.isspace() or ch in seen:
            continue
        if ord(ch) not in cmap:
            seen.append(ch)
    return seen


def font_info(spec: FontSpec, dirs: Iterable[Path] = DEFAULT_FONT_DIRS) -> FontInfo:
    path = font_path(spec, dirs)
    cmap = codepoints(spec, dirs) if path else frozenset()
    hangul = sum(1 for cp in range(0xAC00, 0xD7A4) if cp in cmap)
    return FontInfo(
        id=spec.id,
        family=spec.family,
        weight=spec.weight,
        name_ko=spec.name_ko,
        category=spec.category,
        path=str(path) if path else None,
        available=path is not None,
        hangul_syllables=hangul,
        package=spec.package,
    )


def list_fonts(dirs: Iterable[Path] = DEFAULT_FONT_DIRS) -> list[FontInfo]:
    return [font_info(spec, dirs) for spec in CATALOG]


def resolve_font(font_id: str) -> FontSpec:
    if font_id in FONTS:
        return FONTS[font_id]
    raise InvalidInput(f"unknown font {font_id!r}", field="font", accepted=", ".join(FONTS))


def first_font_covering(
    candidates: Iterable[str], text: str, dirs: Iterable[Path] = DEFAULT_FONT_DIRS
) -> tuple[FontSpec, list[str]]:
    """The first installed candidate that draws every character of `text`; else the best one and its gaps."""
    best: tuple[FontSpec, list[str]] | None = None
    dirs = tuple(dirs)
    for fid in candidates:
        spec = FONTS[fid]
        if font_path(spec, dirs) is None:
            continue
        missing = missing_glyphs(spec, text, dirs)
        if not missing:
            return spec, []
        if best is None or len(missing) < len(best[1]):
            best = (spec, missing)
    if best is None:
        raise InvalidInput(
            "no Korean font is installed",
            field="font",
            accepted="install Debian fonts-noto-cjk fonts-nanum fonts-woowa-bm (the README's setup does)",
        )
    return best
