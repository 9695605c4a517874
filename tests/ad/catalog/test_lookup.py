"""One name lookup for the scene styles, text styles and sizes: every spelling of a name that one of
them accepts, the others accept too, and an unknown name is refused with what is accepted."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nanococoa_mcp.ad.catalog.sizes import SIZES, SizePreset, resolve_size
from nanococoa_mcp.ad.catalog.styles import STYLES, SceneStyle, guess_style, resolve_style
from nanococoa_mcp.ad.catalog.text_styles import STYLES as TEXT_STYLES
from nanococoa_mcp.ad.catalog.text_styles import TextStyle, guess_text_style, resolve_text_style
from nanococoa_mcp.errors import InvalidInput

Resolver = Callable[[str], SceneStyle | TextStyle | SizePreset]


def _full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def spellings(name: str) -> list[str]:
    """A two-word name as people type it: spaced, with a middle dot (three kinds), a hyphen, an
    underscore, run together, shouted with stray spaces, and in full-width letters."""
    words = name.split()
    return [
        " ".join(words),
        "·".join(words),
        "ㆍ".join(words),
        "・".join(words),
        "-".join(words),
        "_".join(words),
        "".join(words),
        f"  {' '.join(words).upper()}  ",
        _full_width(" ".join(words)),
    ]


CASES: list[tuple[str, Resolver, str, str]] = [
    ("scene style", resolve_style, "전통시장 분위기", "traditional_market"),
    ("scene style", resolve_style, "Traditional market", "traditional_market"),
    ("scene style", resolve_style, "traditional market", "traditional_market"),  # the id, spelled apart
    ("text style", resolve_text_style, "골드 풍선", "gold_balloon"),
    ("text style", resolve_text_style, "Gold balloon", "gold_balloon"),
    ("text style", resolve_text_style, "세일 스티커", "sale_sticker"),
    ("size", resolve_size, "세로 피드", "4:5"),
    ("size", resolve_size, "portrait feed", "4:5"),
    ("size", resolve_size, "링크 배너", "banner"),
]


@pytest.mark.parametrize(("catalog", "resolve", "name", "entry_id"), CASES, ids=[c[2] for c in CASES])
def test_every_catalog_resolves_the_same_spellings_of_a_name(
    catalog: str, resolve: Resolver, name: str, entry_id: str
) -> None:
    for spelled in spellings(name):
        assert resolve(spelled).id == entry_id, (catalog, spelled)


def test_the_two_copies_that_used_to_differ_now_agree() -> None:
    assert resolve_style("전통시장·분위기").id == "traditional_market"
    assert resolve_text_style("골드·풍선").id == "gold_balloon"
    assert resolve_text_style("골드ㆍ풍선 텍스트").id == "gold_balloon"


@pytest.mark.parametrize(
    ("name", "size_id"),
    [("4x5", "4:5"), ("4×5", "4:5"), ("４:５", "4:5"), ("1080x1350", "4:5"), ("1X1", "1:1"), ("800x1200", "seed"),
     ("800:1200", "seed"), ("Stories", "9:16"), ("스토리", "9:16"), ("정사각형", "1:1"), (" seed ", "seed")],
)  # fmt: skip
def test_sizes_resolve_by_ratio_pixels_and_names(name: str, size_id: str) -> None:
    assert resolve_size(name).id == size_id


@pytest.mark.parametrize(
    ("resolve", "field", "ids"),
    [
        (resolve_style, "style", [s.id for s in STYLES]),
        (resolve_text_style, "text_style", [s.id for s in TEXT_STYLES]),
        (resolve_size, "size", list(SIZES)),
    ],
)
def test_an_unknown_name_is_refused_listing_everything_accepted(resolve: Resolver, field: str, ids: list[str]) -> None:
    for unknown in ("vaporwave", "", "  ", "·"):
        with pytest.raises(InvalidInput) as info:
            resolve(unknown)
        assert info.value.field == field
        assert info.value.accepted is not None
        assert all(i in info.value.accepted for i in ids)


def test_free_text_prompts_name_styles_with_the_same_spellings() -> None:
    scene = guess_style("따뜻한 전통시장·분위기의 나무 좌판")
    text = guess_text_style("골드·풍선 글씨에 진한 그림자")
    assert scene is not None and scene.id == "traditional_market"
    assert text is not None and text.id == "gold_balloon"
    assert guess_style("아무 말") is None and guess_text_style("아무 말") is None
