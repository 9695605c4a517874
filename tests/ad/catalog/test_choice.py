"""Styles for an ad that named none: chosen from what the copy says and the product's colours, by the LLM
when one is configured (checked against the catalogues) and by the built-in table otherwise."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from nanococoa_mcp.ad.catalog.choice import choose_styles, choose_text, rank_styles
from nanococoa_mcp.ad.catalog.styles import resolve_style
from nanococoa_mcp.settings import Settings
from tests.llm_server import LoopbackLLM

WHITE = ((240, 240, 238),)
RED = ((200, 30, 35),)


@pytest.mark.parametrize(
    ("copy", "scene", "text"),
    [
        ("팥빙수 개시! 시원하게", "summer", "soft_round"),
        ("한우 선물세트 예약 판매", "luxury", "elegant_serif"),
        ("오늘의 커피 한 잔", "cafe", "handwritten"),
        ("크리스마스 케이크 예약", "winter", None),
        ("벚꽃 시즌 딸기 라떼", "spring", None),
        ("추석 햅쌀 입고", "autumn", None),
        ("치킨에 맥주 한 잔", "neon", "neon"),
        ("전통 방앗간 참기름", "traditional_market", "retro_sign"),
        ("눈 건강 검진", "minimal", "bold_clean"),  # a red retina photo: the clinic, not the colour, decides
        ("동네 안경점 시력 검사", "minimal", None),
    ],
)
def test_the_copy_picks_a_fitting_scene_and_lettering(copy: str, scene: str, text: str | None) -> None:
    (choice,) = rank_styles(copy, RED)
    assert choice.scene.id == scene, choice.reason
    if text is not None:
        assert choice.text.id == text, choice.reason
    assert "copy mentions" in choice.reason


def test_a_sale_gets_a_sale_sticker_whatever_the_scene() -> None:
    (choice,) = rank_styles("주말 특가 세일 30% 할인", WHITE)
    assert choice.text.id == "sale_sticker" and "특가" in choice.reason


def test_with_no_word_to_go_on_the_products_colours_decide() -> None:
    (white,) = rank_styles("맛있는 반찬 가게", ())  # 반찬 is a market word
    assert white.scene.id == "traditional_market"
    (plain,) = rank_styles("새로 들어왔어요", WHITE)
    assert plain.scene.id == "minimal" and "neutral" in plain.reason
    (green,) = rank_styles("새로 들어왔어요", ((60, 150, 70),))
    assert green.scene.id == "nature" and "#3C9646" in green.reason


def test_variants_explore_different_fitting_pairs() -> None:
    choices = rank_styles("한우 선물세트 특가 세일", RED, count=3)
    pairs = {(c.scene.id, c.text.id) for c in choices}
    assert len(pairs) == 3
    assert {c.text.id for c in choices} >= {"sale_sticker", "elegant_serif"}


def test_a_scene_that_was_asked_gets_lettering_that_suits_it() -> None:
    text, why = choose_text("새로 들어왔어요", resolve_style("luxury"))
    assert text.id == "elegant_serif" and "luxury" in why


def test_without_an_llm_the_table_chooses_and_nothing_is_said_about_an_llm() -> None:
    choices, fallback = choose_styles("팥빙수 개시", None, RED, 2, Settings(llm_base_url=None))
    assert fallback is None and choices[0].scene.id == "summer"


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    state: dict[str, Any] = {"answer": ""}
    server = LoopbackLLM(lambda body: state["answer"])
    state["server"] = server
    state["settings"] = Settings(llm_base_url=server.base_url, llm_model="m", NANOCOCOA_LLM_API_KEY="sk-local")
    yield state
    server.close()


def test_a_configured_llm_chooses_by_json_schema_limited_to_the_catalogues(llm: dict[str, Any]) -> None:
    llm["answer"] = json.dumps({"choices": [
        {"scene_style": "cafe", "text_style": "handwritten", "reason": "Coffee copy suits a cafe."},
        {"scene_style": "autumn", "text_style": "retro_sign", "reason": "Warm tones."},
    ]})
    choices, fallback = choose_styles("오늘의 커피", None, RED, 3, llm["settings"])
    assert fallback is None
    assert [(c.scene.id, c.text.id) for c in choices] == [("cafe", "handwritten"), ("autumn", "retro_sign"),
                                                         ("cafe", "handwritten")]
    assert "Coffee copy suits a cafe. (LLM)" in choices[0].reason
    request = llm["server"].requests[0]
    schema = request["response_format"]["json_schema"]
    assert schema["name"] == "style_choice"
    item = schema["schema"]["properties"]["choices"]["items"]["properties"]
    assert "summer" in item["scene_style"]["enum"] and "sale_sticker" in item["text_style"]["enum"]
    assert "오늘의 커피" in request["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ('{"choices": [{"scene_style": "steampunk", "text_style": "neon", "reason": "x"}]}', "no known style"),
        ("I'd go with a cafe!", "not JSON"),
        ('{"choices": []}', "no choices"),
    ],
)
def test_an_unusable_llm_answer_falls_back_to_the_table_and_says_why(
    llm: dict[str, Any], answer: str, why: str
) -> None:
    llm["answer"] = answer
    choices, fallback = choose_styles("팥빙수 개시", None, RED, 1, llm["settings"])
    assert choices[0].scene.id == "summer" and "built-in table" in choices[0].reason
    assert fallback is not None and why in fallback
