"""The copy's typographic styles: CSS over Korean fonts, with the colours contrast is judged by.

Each style has two themes, picked by the brightness under the copy: `on_light` and `on_dark`.
`edge_inks` are the colours that draw the glyphs' outer edge (a stroke of at least ~2 px, or the
fill); legibility is the best contrast any of them reaches against what lies under the copy.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.catalog.lookup import NameLookup


class Theme(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vars: dict[str, str] = Field(description="CSS custom properties (without the leading --).")
    edge_inks: tuple[str, ...]
    plate: str = Field(description="Backing plate colour used when contrast needs one.")
    sub_fill: str
    sub_bg: str


class TextStyle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name_ko: str
    name_en: str
    aliases: tuple[str, ...] = ()
    description: str
    fonts: tuple[str, ...] = Field(description="Font ids in order of preference (see fonts.CATALOG).")
    css: str
    on_light: Theme
    on_dark: Theme
    always_plate: bool = Field(default=False, description="The plate is part of the design (sticker, sign).")
    plate_opacity: float = 0.0
    rotate_deg: float = 0.0
    line_height: float = 1.12
    letter_spacing_em: float = -0.01


_BALLOON = """
.main .back { color: var(--stroke); -webkit-text-stroke: 0.17em var(--stroke); paint-order: stroke fill;
  text-shadow: 0 0.05em 0 var(--stroke), 0 0.1em 0 var(--deep), 0 0.16em 0.2em rgba(0,0,0,.38); }
.main .face { background: linear-gradient(180deg, var(--hi) 0%, var(--fill) 42%, var(--fill2) 64%, var(--fill) 100%);
  -webkit-background-clip: text; background-clip: text; color: transparent;
  -webkit-text-stroke: 0.03em var(--hi); paint-order: stroke fill; }
"""

_NEON = """
.main .back { color: var(--core);
  text-shadow: 0 0 0.03em #fff, 0 0 0.08em var(--glow), 0 0 0.18em var(--glow), 0 0 0.36em var(--glow); }
.main .face { display: none; }
"""

_METAL = """
.main .back { color: var(--stroke); -webkit-text-stroke: 0.07em var(--stroke); paint-order: stroke fill;
  text-shadow: 0 0.012em 0 #9aa1ab, 0 0.024em 0 #8a9099, 0 0.036em 0 #7a8089, 0 0.048em 0 #6a7079,
  0 0.06em 0 #5a6069, 0 0.1em 0.14em rgba(0,0,0,.45); }
.main .face { background: linear-gradient(180deg, #ffffff 0%, #dfe3e8 30%, #9aa2ad 49%, #f2f4f7 62%, #b7bec8 100%);
  -webkit-background-clip: text; background-clip: text; color: transparent; }
"""

_PLAIN = """
.main .back { color: var(--ink); }
.main .face { display: none; }
"""

_STICKER = """
.group { background: var(--plate); border-radius: 0.22em; padding: 0.22em 0.5em 0.28em;
  box-shadow: 0 0.08em 0.22em rgba(0,0,0,.28); }
.main .back { color: var(--ink); text-shadow: 0 0.04em 0 rgba(0,0,0,.18); }
.main .face { display: none; }
"""

_SERIF = """
.main .back { color: var(--ink); text-shadow: 0 0.03em 0.12em var(--soft); }
.main .face { display: none; }
.main::after { content: ""; display: block; width: 1.6em; height: 0.045em; margin: 0.28em auto 0;
  background: var(--rule); }
.left .main::after { margin-left: 0; } .right .main::after { margin-right: 0; }
"""

_HAND = """
.main .back { color: var(--ink); text-shadow: 0 0.03em 0.1em var(--soft); }
.main .face { display: none; }
"""

_SIGN = """
.group { background: var(--plate); border: 0.07em solid var(--ink); border-radius: 0.12em;
  padding: 0.2em 0.45em 0.26em; box-shadow: 0 0.1em 0.25em rgba(0,0,0,.35); }
.main .back { color: var(--ink); }
.main .face { display: none; }
"""

_POP = """
.main .back { color: var(--stroke); -webkit-text-stroke: 0.15em var(--stroke); paint-order: stroke fill;
  text-shadow: 0.07em 0.07em 0 var(--shadow); }
.main .face { color: var(--fill); }
"""

_ROUND = """
.main .back { color: var(--ink); -webkit-text-stroke: 0.1em var(--halo); paint-order: stroke fill;
  text-shadow: 0 0.05em 0.16em rgba(0,0,0,.18); }
.main .face { display: none; }
"""


def _t(vars: dict[str, str], inks: tuple[str, ...], plate: str, sub_fill: str, sub_bg: str) -> Theme:
    return Theme(vars=vars, edge_inks=inks, plate=plate, sub_fill=sub_fill, sub_bg=sub_bg)


STYLES: tuple[TextStyle, ...] = (
    TextStyle(
        id="gold_balloon",
        name_ko="골드 풍선",
        name_en="Gold balloon",
        aliases=("골드풍선", "골드 풍선 텍스트", "gold", "balloon", "골드"),
        description="통통한 금색 풍선 글자, 진한 갈색 테두리와 입체 그림자",
        fonts=("bm-jua", "bm-hanna-pro", "bm-dohyeon", "noto-sans-kr"),
        css=_BALLOON,
        on_light=_t(
            {"stroke": "#5B2A00", "deep": "#3A1A00", "fill": "#FFC928", "fill2": "#F09A00", "hi": "#FFF4B8"},
            ("#5B2A00", "#FFC928"),
            "#FFFFFF",
            "#FFFFFF",
            "#5B2A00",
        ),
        on_dark=_t(
            {"stroke": "#5B2A00", "deep": "#2A1200", "fill": "#FFD23F", "fill2": "#F5A300", "hi": "#FFF6C8"},
            ("#5B2A00", "#FFD23F"),
            "#1A1008",
            "#3A1A00",
            "#FFD23F",
        ),
        line_height=1.08,
    ),
    TextStyle(
        id="neon",
        name_ko="네온",
        name_en="Neon",
        aliases=("네온사인", "neon sign", "glow"),
        description="밤거리 네온사인처럼 빛나는 글자",
        fonts=("bm-hanna-pro", "bm-dohyeon", "bm-jua", "noto-sans-kr"),
        css=_NEON,
        on_light=_t({"core": "#FFF7FD", "glow": "#FF2FB9"}, ("#FFF7FD",), "#140A1E", "#140A1E", "#FF8AD8"),
        on_dark=_t({"core": "#FFF7FD", "glow": "#FF2FB9"}, ("#FFF7FD",), "#140A1E", "#140A1E", "#7DF9FF"),
        plate_opacity=0.0,
        letter_spacing_em=0.01,
    ),
    TextStyle(
        id="metal_3d",
        name_ko="3D 메탈",
        name_en="3D metal",
        aliases=("메탈", "3d메탈", "metal", "chrome", "3D"),
        description="은빛 금속 질감의 입체 글자",
        fonts=("bm-dohyeon", "bm-hanna-pro", "noto-sans-kr"),
        css=_METAL,
        on_light=_t({"stroke": "#23272E"}, ("#23272E",), "#FFFFFF", "#FFFFFF", "#23272E"),
        on_dark=_t({"stroke": "#23272E"}, ("#23272E", "#DFE3E8"), "#0E1116", "#23272E", "#E9ECF0"),
        line_height=1.1,
    ),
    TextStyle(
        id="bold_clean",
        name_ko="고대비 기본",
        name_en="Bold high-contrast",
        aliases=("기본", "plain", "고대비", "high contrast", "simple", "심플"),
        description="장식 없이 가장 잘 읽히는 굵은 고딕",
        fonts=("noto-sans-kr", "nanum-square-round", "bm-dohyeon"),
        css=_PLAIN,
        on_light=_t({"ink": "#141414"}, ("#141414",), "#FFFFFF", "#FFFFFF", "#141414"),
        on_dark=_t({"ink": "#FFFFFF"}, ("#FFFFFF",), "#000000", "#141414", "#FFFFFF"),
        letter_spacing_em=-0.03,
    ),
    TextStyle(
        id="sale_sticker",
        name_ko="세일 스티커",
        name_en="Sale sticker",
        aliases=("스티커", "sticker", "세일", "sale", "가격표"),
        description="빨간 스티커 위 흰 글자, 살짝 기울어진 특가 태그",
        fonts=("bm-dohyeon", "bm-hanna-pro", "noto-sans-kr"),
        css=_STICKER,
        on_light=_t({"ink": "#FFFFFF", "plate": "#C4161F"}, ("#FFFFFF",), "#C4161F", "#A50F18", "#FFE14D"),
        on_dark=_t({"ink": "#FFFFFF", "plate": "#C4161F"}, ("#FFFFFF",), "#C4161F", "#A50F18", "#FFE14D"),
        always_plate=True,
        plate_opacity=1.0,
        rotate_deg=-3.0,
    ),
    TextStyle(
        id="elegant_serif",
        name_ko="고급 명조",
        name_en="Elegant serif",
        aliases=("명조", "serif", "elegant", "럭셔리", "luxury", "고급"),
        description="여백을 살린 우아한 명조, 얇은 장식선",
        fonts=("nanum-myeongjo", "noto-serif-kr"),
        css=_SERIF,
        on_light=_t(
            {"ink": "#2B2118", "soft": "rgba(255,255,255,.5)", "rule": "#8C6B3F"},
            ("#2B2118",),
            "#FFFFFF",
            "#F7F1E6",
            "#2B2118",
        ),
        on_dark=_t(
            {"ink": "#F4E6C8", "soft": "rgba(0,0,0,.5)", "rule": "#C9A86A"},
            ("#F4E6C8",),
            "#000000",
            "#1B1510",
            "#F4E6C8",
        ),
        letter_spacing_em=0.03,
        line_height=1.25,
    ),
    TextStyle(
        id="handwritten",
        name_ko="손글씨",
        name_en="Handwritten",
        aliases=("캘리", "calligraphy", "hand", "붓글씨"),
        description="정성 들인 손글씨 느낌, 수제·카페 메뉴에 어울림",
        fonts=("bm-yeonsung", "bm-kiranghaerang", "nanum-pen"),
        css=_HAND,
        on_light=_t({"ink": "#3A2614", "soft": "rgba(255,255,255,.55)"}, ("#3A2614",), "#FFFFFF", "#3A2614", "#FFF8EC"),
        on_dark=_t({"ink": "#FFF8EC", "soft": "rgba(0,0,0,.5)"}, ("#FFF8EC",), "#000000", "#FFF8EC", "#3A2614"),
        rotate_deg=-2.0,
        letter_spacing_em=0.0,
        line_height=1.18,
    ),
    TextStyle(
        id="retro_sign",
        name_ko="레트로 간판",
        name_en="Retro signboard",
        aliases=("간판", "을지로", "retro", "레트로"),
        description="을지로 옛 간판처럼 검은 판 위 노란 글자",
        fonts=("bm-euljiro", "bm-dohyeon", "noto-sans-kr"),
        css=_SIGN,
        on_light=_t({"ink": "#FFD400", "plate": "#1B1B1B"}, ("#FFD400",), "#1B1B1B", "#1B1B1B", "#FFD400"),
        on_dark=_t({"ink": "#FFD400", "plate": "#1B1B1B"}, ("#FFD400",), "#1B1B1B", "#FFD400", "#1B1B1B"),
        always_plate=True,
        plate_opacity=1.0,
    ),
    TextStyle(
        id="pop_outline",
        name_ko="팝 아웃라인",
        name_en="Pop outline",
        aliases=("팝", "pop", "outline", "아웃라인"),
        description="흰 테두리와 색 그림자로 톡 튀는 전단지 글자",
        fonts=("bm-dohyeon", "bm-jua", "noto-sans-kr"),
        css=_POP,
        on_light=_t(
            {"stroke": "#FFFFFF", "fill": "#C8102E", "shadow": "#1D1D1D"}, ("#C8102E",), "#FFFFFF", "#FFFFFF", "#E8173E"
        ),
        on_dark=_t(
            {"stroke": "#FFFFFF", "fill": "#E8173E", "shadow": "#1D1D1D"}, ("#FFFFFF",), "#000000", "#E8173E", "#FFFFFF"
        ),
    ),
    TextStyle(
        id="soft_round",
        name_ko="말랑 라운드",
        name_en="Soft round",
        aliases=("라운드", "round", "귀여운", "cute", "파스텔"),
        description="둥글고 부드러운 고딕, 파스텔 장면에 어울림",
        fonts=("nanum-square-round", "bm-jua", "noto-sans-kr"),
        css=_ROUND,
        on_light=_t({"ink": "#3B3068", "halo": "rgba(255,255,255,.9)"}, ("#3B3068",), "#FFFFFF", "#FFFFFF", "#3B3068"),
        on_dark=_t({"ink": "#FFFFFF", "halo": "rgba(40,30,80,.85)"}, ("#FFFFFF",), "#000000", "#3B3068", "#FFFFFF"),
    ),
)

TEXT_STYLES = {s.id: s for s in STYLES}
DEFAULT_TEXT_STYLE = "gold_balloon"


LOOKUP = NameLookup(
    ((s, (s.id, s.name_ko, s.name_en, *s.aliases)) for s in STYLES),
    what="text style",
    field="text_style",
    accepted=", ".join(f"{s.id} ({s.name_ko})" for s in STYLES),
)


def resolve_text_style(name: str) -> TextStyle:
    """The style for an id, Korean or English name, or alias (spelled as `lookup.fold` allows); raises
    InvalidInput listing them."""
    return LOOKUP.resolve(name)


def guess_text_style(prompt: str) -> TextStyle | None:
    """The text style a free-text prompt names (the seed's `html_style_prompt`), by its longest name in it."""
    return LOOKUP.find_in(prompt)
