"""Styles chosen for an ad that named none: from what the copy says (빙수 → 여름, 한우 선물세트 → 고급스러운,
커피 → 카페, 세일·특가 → a sale sticker) and, where the copy says nothing, from the product's own colours.

`rank_styles` is the built-in Korean keyword table; `choose_styles` asks the configured LLM first (its answer
checked against the catalogues by a JSON schema) and falls back to the table with the reason. Each variant
takes the next fitting pair, so variants explore different styles; every choice carries its reason.
"""

from __future__ import annotations

import colorsys
import logging
import unicodedata
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nanococoa_mcp.ad.catalog.styles import STYLES, SceneStyle, resolve_style
from nanococoa_mcp.ad.catalog.text_styles import STYLES as TEXT_STYLES
from nanococoa_mcp.ad.catalog.text_styles import TextStyle, resolve_text_style
from nanococoa_mcp.errors import BackendUnavailable, InvalidInput
from nanococoa_mcp.settings import Settings

log = logging.getLogger(__name__)

RGB = tuple[int, int, int]

# What a word in the copy says about the scene: (words, scene style id, weight). A season or an occasion
# weighs more than a product category, which weighs more than a mood word.
SCENE_WORDS: tuple[tuple[tuple[str, ...], str, float], ...] = (
    (("여름", "빙수", "팥빙수", "아이스", "냉면", "수박", "시원", "얼음", "에이드", "바캉스", "휴가", "물놀이",
      "복날", "삼계탕", "쿨", "썸머", "summer", "iced"), "summer", 3.0),
    (("겨울", "크리스마스", "성탄", "연말", "붕어빵", "호빵", "군고구마", "핫초코", "방한", "패딩", "눈꽃",
      "동지", "팥죽", "winter", "christmas"), "winter", 3.0),
    (("봄", "벚꽃", "새학기", "신학기", "입학", "화이트데이", "꽃놀이", "봄나물", "딸기", "spring"), "spring", 3.0),
    (("가을", "추석", "한가위", "단풍", "햅쌀", "햇밤", "전어", "수확", "autumn", "fall"), "autumn", 3.0),
    (("한우", "선물세트", "선물 세트", "프리미엄", "명품", "고급", "럭셔리", "명절", "홍삼", "와인", "위스키",
      "보석", "향수", "정육", "갈비세트", "premium", "luxury", "gift"), "luxury", 2.5),
    (("커피", "카페", "라떼", "아메리카노", "원두", "에스프레소", "브런치", "디저트", "케이크", "베이커리",
      "빵", "마카롱", "쿠키", "크루아상", "스콘", "티타임", "coffee", "cafe", "latte"), "cafe", 2.0),
    (("시장", "전통", "건어물", "반찬", "떡", "방앗간", "참기름", "들기름", "젓갈", "김치", "국밥", "한과",
      "재래", "도매", "원조", "노포", "market"), "traditional_market", 2.0),
    (("치킨", "맥주", "호프", "야식", "포차", "심야", "24시", "밤", "나이트", "곱창", "술집", "노래방",
      "night", "beer"), "neon", 2.0),
    (("유기농", "친환경", "무농약", "산지", "농장", "자연", "텃밭", "채소", "야채", "캠핑", "등산", "숲",
      "organic", "farm"), "nature", 2.0),
    (("키즈", "아기", "유아", "베이비", "귀여운", "캐릭터", "네일", "문구", "파스텔", "솜사탕", "kids", "baby",
      "cute"), "pastel", 2.0),
    (("심플", "깔끔", "모던", "미니멀", "전자", "가전", "이어폰", "노트북", "simple", "minimal"), "minimal", 1.5),
    # Clinics, pharmacies and opticians want a clean, trustworthy scene whatever their photo's colours (a
    # red retina photo must not lean a 눈 건강 검진 ad to a market stall).
    (("검진", "병원", "의원", "클리닉", "치과", "안과", "안경", "렌즈", "시력", "약국", "한의원", "진료",
      "clinic", "pharmacy", "optician"), "minimal", 2.0),
)

# What a word says about the lettering.
TEXT_WORDS: tuple[tuple[tuple[str, ...], str, float], ...] = (
    (("세일", "특가", "할인", "%", "파격", "떨이", "1+1", "2+1", "반값", "균일가", "초특가", "타임딜", "쿠폰",
      "sale", "off"), "sale_sticker", 3.0),
    (("한우", "선물세트", "선물 세트", "프리미엄", "명품", "고급", "와인", "정성", "명절", "premium"),
     "elegant_serif", 2.5),
    (("오픈", "개업", "축하", "이벤트", "경품", "기념", "당첨", "감사", "open", "event"), "gold_balloon", 2.5),
    (("신상", "신메뉴", "출시", "런칭", "new", "신제품", "첫선"), "pop_outline", 2.0),
    (("수제", "핸드메이드", "손수", "커피", "카페", "브런치", "베이커리", "빵", "감성", "handmade"),
     "handwritten", 2.0),
    (("시장", "전통", "원조", "옛날", "노포", "방앗간", "국밥", "재래", "since"), "retro_sign", 2.0),
    (("치킨", "맥주", "야식", "포차", "심야", "밤", "night"), "neon", 2.0),
    (("키즈", "아기", "유아", "귀여운", "디저트", "빙수", "간식", "젤리", "말랑"), "soft_round", 2.0),
    (("공구", "자동차", "게임", "하드웨어", "메탈", "스틸", "파워"), "metal_3d", 2.0),
)

# The lettering that suits a scene when the copy says nothing about the lettering.
TEXT_FOR_SCENE: dict[str, tuple[str, ...]] = {
    "traditional_market": ("gold_balloon", "retro_sign"),
    "luxury": ("elegant_serif", "metal_3d"),
    "minimal": ("bold_clean", "pop_outline"),
    "cafe": ("handwritten", "soft_round"),
    "nature": ("handwritten", "bold_clean"),
    "neon": ("neon", "pop_outline"),
    "spring": ("soft_round", "handwritten"),
    "summer": ("pop_outline", "soft_round"),
    "autumn": ("retro_sign", "handwritten"),
    "winter": ("soft_round", "elegant_serif"),
    "pastel": ("soft_round", "pop_outline"),
}
# With no word to go on, the product's colours lean the scene: (style id, hue range in degrees or None for
# "low saturation", minimum saturation).
COLOUR_LEANS: tuple[tuple[str, tuple[float, float] | None, float], ...] = (
    ("minimal", None, 0.0),  # white, grey, black products: a clean studio
    ("autumn", (10.0, 45.0), 0.35),  # orange, brown
    ("nature", (75.0, 160.0), 0.30),  # greens
    ("summer", (170.0, 220.0), 0.30),  # cyan, sky blue
    ("pastel", (290.0, 345.0), 0.20),  # pink, violet
    ("traditional_market", (345.0, 370.0), 0.45),  # reds (wrapping past 360)
)
DEFAULT_SCENE, DEFAULT_TEXT = "minimal", "bold_clean"


@dataclass(frozen=True, slots=True)
class StyleChoice:
    scene: SceneStyle
    text: TextStyle
    scene_why: str  # for the report: which words or colours led to the scene style ("as asked" when asked)
    text_why: str

    @property
    def reason(self) -> str:
        return f"scene {self.scene.id}: {self.scene_why}; text {self.text.id}: {self.text_why}"


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _scores(copy: str, table: tuple[tuple[tuple[str, ...], str, float], ...]) -> dict[str, tuple[float, list[str]]]:
    folded = _fold(copy)
    out: dict[str, tuple[float, list[str]]] = {}
    for words, style_id, weight in table:
        hits = [w for w in words if _fold(w) in folded]
        if hits:
            score, seen = out.get(style_id, (0.0, []))
            out[style_id] = (score + weight * len(hits), seen + hits)
    return out


def colour_lean(palette: tuple[RGB, ...]) -> tuple[str, str] | None:
    """The scene the product's main colour leans to, and why; None when the colours say nothing clear."""
    if not palette:
        return None
    r, g, b = (c / 255.0 for c in palette[0])
    hue, light, sat = colorsys.rgb_to_hls(r, g, b)
    deg = hue * 360.0
    if sat < 0.15 or light > 0.92 or light < 0.08:
        return "minimal", f"product colour {_hex(palette[0])} is neutral"
    for style_id, band, min_sat in COLOUR_LEANS:
        if band is None or sat < min_sat:
            continue
        lo, hi = band
        if lo <= deg <= hi or lo <= deg + 360.0 <= hi:
            return style_id, f"product colour {_hex(palette[0])} suits {style_id}"
    return None


def _hex(c: RGB) -> str:
    return "#{:02X}{:02X}{:02X}".format(*c)


def rank_styles(copy: str, palette: tuple[RGB, ...] = (), count: int = 1) -> list[StyleChoice]:
    """`count` (scene, text) pairs that fit the copy, best first, from the built-in keyword table; the
    product's colours decide where the copy says nothing. Different variants get different pairs."""
    scene_scores = _scores(copy, SCENE_WORDS)
    scenes: list[tuple[str, str]] = [
        (sid, "copy mentions " + ", ".join(dict.fromkeys(words)))
        for sid, (_s, words) in sorted(scene_scores.items(), key=lambda kv: (-kv[1][0], kv[0]))
    ]
    lean = colour_lean(palette)
    if lean is not None and lean[0] not in {s for s, _ in scenes}:
        scenes.append(lean)
    if not scenes:
        scenes.append((DEFAULT_SCENE, "copy names no scene and the product's colours suggest none"))
    choices: list[StyleChoice] = []
    for i in range(count):
        scene_id, scene_why = scenes[i % len(scenes)]
        scene = resolve_style(scene_id)
        text, text_why = choose_text(copy, scene, i // len(scenes))
        choices.append(StyleChoice(scene, text, f"{scene_why} (built-in table)", text_why))
    return choices


def choose_text(copy: str, scene: SceneStyle, index: int = 0) -> tuple[TextStyle, str]:
    """The lettering for `copy` in `scene` (the `index`-th fitting one, for variants): what the copy says
    about lettering (세일 → a sale sticker), else what suits the scene. Built-in table; never raises."""
    scores = _scores(copy, TEXT_WORDS)
    ranked = [tid for tid, _ in sorted(scores.items(), key=lambda kv: (-kv[1][0], kv[0]))]
    if ranked:
        text_id = ranked[index % len(ranked)]
        return resolve_text_style(text_id), "copy mentions " + ", ".join(dict.fromkeys(scores[text_id][1]))
    fits = TEXT_FOR_SCENE.get(scene.id, (DEFAULT_TEXT,))
    return resolve_text_style(fits[index % len(fits)]), f"lettering that suits the {scene.id} scene"


class _LlmChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scene_style: str = Field(description="A scene style id.")
    text_style: str = Field(description="A text style id.")
    reason: str = Field(max_length=300, description="Why, in one short English sentence.")


def _schema() -> dict[str, object]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["choices"],
        "properties": {
            "choices": {
                "type": "array",
                "minItems": 1,
                "maxItems": 4,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["scene_style", "text_style", "reason"],
                    "properties": {
                        "scene_style": {"type": "string", "enum": [s.id for s in STYLES]},
                        "text_style": {"type": "string", "enum": [t.id for t in TEXT_STYLES]},
                        "reason": {"type": "string", "maxLength": 300},
                    },
                },
            }
        },
    }


def _llm_choices(copy: str, sub_copy: str | None, palette: tuple[RGB, ...], count: int,
                 settings: Settings) -> list[StyleChoice]:
    """The LLM's choices. Raises BackendUnavailable or AnswerRejected (from llm.py) when it cannot help."""
    from nanococoa_mcp.llm import AnswerRejected, complete_json
    from nanococoa_mcp.prompts import render_prompt

    prompt = render_prompt(
        "style_choice",
        {
            "text_content": copy.strip(),
            "sub_copy": (sub_copy or "").strip(),
            "product_colours": ", ".join(_hex(c) for c in palette) or "unknown",
            "count": str(count),
            "scene_styles": "\n".join(f"- {s.id}: {s.name_en} ({s.name_ko}), {', '.join(s.mood[:3])}" for s in STYLES),
            "text_styles": "\n".join(f"- {t.id}: {t.name_en} ({t.name_ko})" for t in TEXT_STYLES),
        },
    )
    data = complete_json(settings, prompt, "style_choice", _schema())
    raw = data.get("choices")
    if not isinstance(raw, list) or not raw:
        raise AnswerRejected("the answer has no choices")
    out: list[StyleChoice] = []
    for item in raw:
        try:
            pick = _LlmChoice.model_validate(item)
            scene, text = resolve_style(pick.scene_style), resolve_text_style(pick.text_style)
        except (ValidationError, InvalidInput) as exc:
            raise AnswerRejected(f"the answer names no known style ({exc})") from exc
        why = f"{pick.reason.strip()} (LLM)"
        out.append(StyleChoice(scene, text, why, why))
    return [out[i % len(out)] for i in range(count)]


def choose_styles(
    copy: str, sub_copy: str | None, palette: tuple[RGB, ...], count: int, settings: Settings
) -> tuple[list[StyleChoice], str | None]:
    """`count` fitting (scene, text) pairs and, when the LLM was asked but could not help, why the built-in
    table was used instead. Never raises for the LLM."""
    from nanococoa_mcp.llm import AnswerRejected, configured

    words = f"{copy} {sub_copy or ''}"
    if not configured(settings):
        return rank_styles(words, palette, count), None
    try:
        return _llm_choices(copy, sub_copy, palette, count, settings), None
    except (BackendUnavailable, AnswerRejected) as exc:
        log.info("style choice: the LLM could not help (%s); using the built-in table", exc)
        return rank_styles(words, palette, count), f"style choice: the LLM could not help ({exc}); used the table"
