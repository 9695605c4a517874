"""Korean ad copy + a scene style → English prompts for an image model, without an LLM.

A phrase table of words common in small-shop ads (products, places, seasons, promotions) turns the
copy into English; the scene style adds its mood keywords. Deterministic: the same copy and style
always give the same prompt. The LLM backend (backends/llm.py) answers the same `ScenePrompts` shape
and falls back to this when no endpoint is configured or its answer is unusable.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.catalog.styles import SceneStyle
from nanococoa_mcp.ad.catalog.text_styles import TextStyle

Kind = Literal["item", "place", "season", "promo"]

# (Korean, English, kind). Items are what the shop sells (the scene is set for them, never paints
# them: the product photo goes in afterwards); promo entries are the mood a word gives the scene.
# Single-syllable words that are also common inside other words (배 pear/delivery, 밤 chestnut/night,
# 차 tea/car, 감 persimmon/thanks) are left out.
PHRASES: tuple[tuple[str, str, Kind], ...] = (
    ("건어물", "dried seafood", "item"),
    ("오징어", "dried squid", "item"),
    ("멸치", "anchovies", "item"),
    ("수산물", "seafood", "item"),
    ("생선", "fresh fish", "item"),
    ("김밥", "gimbap rolls", "item"),
    ("김치", "kimchi", "item"),
    ("반찬", "Korean side dishes", "item"),
    ("도시락", "lunch boxes", "item"),
    ("떡볶이", "tteokbokki", "item"),
    ("떡", "Korean rice cakes", "item"),
    ("한과", "traditional Korean sweets", "item"),
    ("커피", "coffee", "item"),
    ("라떼", "latte", "item"),
    ("원두", "coffee beans", "item"),
    ("녹차", "green tea", "item"),
    ("디저트", "desserts", "item"),
    ("케이크", "cake", "item"),
    ("베이커리", "bakery goods", "item"),
    ("빵", "fresh bread", "item"),
    ("쿠키", "cookies", "item"),
    ("과일", "fresh fruit", "item"),
    ("사과", "apples", "item"),
    ("오렌지", "oranges", "item"),
    ("귤", "tangerines", "item"),
    ("한라봉", "hallabong tangerines", "item"),
    ("딸기", "strawberries", "item"),
    ("수박", "watermelon", "item"),
    ("포도", "grapes", "item"),
    ("복숭아", "peaches", "item"),
    ("곶감", "dried persimmons", "item"),
    ("채소", "fresh vegetables", "item"),
    ("야채", "fresh vegetables", "item"),
    ("한우", "Korean beef", "item"),
    ("정육", "butcher's meat", "item"),
    ("치킨", "fried chicken", "item"),
    ("꿀", "honey", "item"),
    ("참기름", "sesame oil", "item"),
    ("된장", "fermented soybean paste", "item"),
    ("막걸리", "makgeolli rice wine", "item"),
    ("전통주", "traditional Korean liquor", "item"),
    ("화장품", "cosmetics", "item"),
    ("향수", "perfume", "item"),
    ("꽃다발", "flower bouquet", "item"),
    ("꽃", "flowers", "item"),
    ("신발", "shoes", "item"),
    ("가방", "bags", "item"),
    ("액세서리", "accessories", "item"),
    ("쌀", "rice", "item"),
    ("전통시장", "traditional Korean market", "place"),
    ("재래시장", "traditional Korean market", "place"),
    ("시장", "market stall", "place"),
    ("카페", "cafe", "place"),
    ("꽃집", "flower shop", "place"),
    ("공방", "craft workshop", "place"),
    ("농장", "farm", "place"),
    ("산지", "farm", "place"),
    ("바다", "seaside", "place"),
    ("제주", "Jeju island", "place"),
    ("봄", "spring", "season"),
    ("여름", "summer", "season"),
    ("가을", "autumn", "season"),
    ("겨울", "winter", "season"),
    ("크리스마스", "Christmas", "season"),
    ("설날", "Lunar New Year", "season"),
    ("추석", "Chuseok harvest festival", "season"),
    ("명절", "Korean holiday", "season"),
    ("새해", "New Year", "season"),
    ("세일", "lively sale-day atmosphere", "promo"),
    ("할인", "bargain sale mood", "promo"),
    ("특가", "special-offer excitement", "promo"),
    ("대박", "festive, energetic mood", "promo"),
    ("신상", "fresh new-arrival feel", "promo"),
    ("신제품", "fresh new-arrival feel", "promo"),
    ("오픈", "grand-opening celebration", "promo"),
    ("이벤트", "celebratory event mood", "promo"),
    ("한정", "exclusive limited-edition feel", "promo"),
    ("수제", "handmade artisanal feel", "promo"),
    ("국산", "wholesome local produce feel", "promo"),
    ("유기농", "natural organic feel", "promo"),
    ("신선", "fresh and crisp", "promo"),
    ("프리미엄", "premium upscale feel", "promo"),
    ("선물", "gift-giving mood", "promo"),
)

SUFFIX = "soft light, empty space at top for text, no text, no letters, no logos, photorealistic"
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")


class ScenePrompts(BaseModel):
    """The seed's prompt pair: a scene for the image model, and how the copy should look."""

    model_config = ConfigDict(extra="forbid")

    background_prompt: str = Field(min_length=1, max_length=1000, description="English scene prompt.")
    text_prompt: str = Field(min_length=1, max_length=1000, description="English description of the copy's style.")


def translate(text: str) -> list[tuple[str, Kind]]:
    """The table's English for the Korean words in `text`, longest match first, in order of appearance."""
    taken = [False] * len(text)
    hits: list[tuple[int, str, Kind]] = []
    for ko, en, kind in sorted(PHRASES, key=lambda p: -len(p[0])):
        for m in re.finditer(re.escape(ko), text):
            if any(taken[m.start() : m.end()]):
                continue
            taken[m.start() : m.end()] = [True] * len(ko)
            hits.append((m.start(), en, kind))
    out: list[tuple[str, Kind]] = []
    for _pos, en, kind in sorted(hits):
        if (en, kind) not in out:
            out.append((en, kind))
    return out


def has_hangul(text: str) -> bool:
    return _HANGUL.search(text) is not None


def scene_prompt(
    copy: str, style: SceneStyle, product_hint: str | None = None, text_style: TextStyle | None = None
) -> ScenePrompts:
    """The built-in prompts: a FLUX-friendly English scene prompt and a description of the copy's look.

    `product_hint` names the product in English (a Korean hint goes through the phrase table)."""
    words = translate(copy)
    if product_hint and has_hangul(product_hint):
        hint_words = translate(product_hint)
        words = hint_words + [w for w in words if w not in hint_words]
        product_hint = None
    items = [en for en, kind in words if kind == "item"]
    places = [en for en, kind in words if kind == "place"]
    seasons = [en for en, kind in words if kind == "season"]
    moods = [en for en, kind in words if kind == "promo"]
    hint = (product_hint or "").strip()
    subject = hint or _join(items[:3]) or "a local shop's product"
    parts = [f"Advertising product photography backdrop for {subject}"]
    if places:
        parts.append(f"{_join(places[:2])} setting")
    parts.append(f"{style.name_en.lower()} style")
    parts.extend(style.mood)
    parts.extend(f"{s} season" if s[0].islower() else f"{s} mood" for s in seasons[:2])
    parts.extend(moods[:3])
    parts.append(SUFFIX)
    background = ", ".join(_dedupe(parts))

    look = f"{text_style.name_en} lettering" if text_style is not None else "bold display lettering"
    tone = ", ".join(moods[:2]) or ", ".join(style.mood[:2])
    text = f"Bold Korean advertising headline '{copy.strip()}', {look}, high contrast against the scene, {tone}"
    return ScenePrompts(background_prompt=background[:1000], text_prompt=text[:1000])


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _dedupe(parts: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for p in parts:
        key = p.lower()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
