"""Prompts are files, loaded by name, with every placeholder filled."""

from __future__ import annotations

import pytest

from nanococoa_mcp.errors import NotFound
from nanococoa_mcp.prompts import load_prompt, prompt_fields, render_prompt


@pytest.mark.parametrize("name", ["layout_analysis", "copy_html", "scene_prompt"])
def test_each_prompt_is_a_versioned_file(name: str) -> None:
    text = load_prompt(name)
    assert text.startswith(f"<!-- prompt: {name} · version ")


def test_the_analysis_prompt_keeps_the_seed_instruction_and_json_keys() -> None:
    text = load_prompt("layout_analysis")
    assert "Identify product location, color distribution, empty spaces suitable for text overlay." in text
    for key in ("objects", "점유율", "color_analysis", "empty_spaces", "suitability", "recommendations"):
        assert key in text


def test_rendering_fills_every_placeholder_and_refuses_missing_ones() -> None:
    assert prompt_fields("scene_prompt") == {"text_content", "background_style", "text_style"}
    out = render_prompt("scene_prompt", {"text_content": "건어물 대박 세일", "background_style": "전통시장",
                                         "text_style": "골드 풍선"})
    assert "{{" not in out and "건어물 대박 세일" in out
    with pytest.raises(ValueError, match="missing"):
        render_prompt("scene_prompt", {"text_content": "x"})


def test_unknown_prompt_names_the_known_ones() -> None:
    with pytest.raises(NotFound) as info:
        load_prompt("nope")
    assert "layout_analysis" in (info.value.accepted or "")
