"""The scene styles a request may name: Korean/English names, a one-line UI description, mood keywords
(the seed of a FLUX prompt) and the procedural spec the studio scene backend renders from."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.catalog.lookup import NameLookup, fold
from nanococoa_mcp.errors import InvalidInput

Hex = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WallSpec(_Spec):
    """The backdrop behind the product."""

    top: Hex
    bottom: Hex
    halo: Unit = Field(description="Soft pool of light on the wall behind the product.")
    key: Unit = Field(description="Broad wash of light from the key light's side.")
    vignette: Unit = 0.25
    rim: Unit = Field(default=0.0, description="Glow of the key light's colour along the seam behind the set.")
    texture: Literal["none", "plaster"] = "none"


class FloorSpec(_Spec):
    """The surface the product stands on, seen in perspective."""

    material: Literal["seamless", "wood", "marble", "wet", "sand", "snow"]
    near: Hex = Field(description="Colour at the front edge of the frame.")
    far: Hex = Field(description="Colour where the floor meets the wall.")
    detail: Hex = Field(description="Plank seams, veins, ripples or sparkle.")
    horizon: float = Field(ge=0.45, le=0.8, description="Wall/floor seam as a fraction of the frame height.")
    cove: Unit = Field(default=0.0, description="0: crisp seam; larger: a curved infinity cove this tall.")
    gloss: Unit = Field(default=0.0, description="Mirror strength; > 0 makes the surface glossy.")
    planks: Literal["depth", "across"] = "depth"
    plank_width: float = Field(default=0.16, gt=0.0, le=0.5, description="Plank width as a fraction of the frame.")


class LightSpec(_Spec):
    azimuth_deg: float = Field(ge=0.0, le=180.0, description="0 from the right, 90 from the top, 180 from the left.")
    elevation_deg: float = Field(ge=10.0, le=85.0)
    color: Hex
    softness: Unit
    jitter_deg: float = Field(default=15.0, ge=0.0, le=45.0, description="Seeded variation of the azimuth.")


DecorKind = Literal[
    "lanterns",
    "bokeh",
    "dust",
    "window",
    "foliage",
    "sun",
    "neon",
    "petals",
    "caustics",
    "leaves",
    "snow",
    "arch",
    "gobo",
]


class DecorSpec(_Spec):
    kind: DecorKind
    colors: tuple[Hex, ...] = Field(min_length=1)
    density: float = Field(default=1.0, gt=0.0, le=3.0)
    strength: Unit = 0.8
    chance: Unit = Field(default=1.0, description="Share of seeds that get this decor.")


class PodiumSpec(_Spec):
    chance: Unit = Field(description="Share of seeds that get a podium (1: always).")
    color: Hex
    width: float = Field(default=0.5, gt=0.1, le=0.9, description="Podium width as a fraction of the frame width.")


class PaletteRule(_Spec):
    """How the product's colours steer the scene's."""

    mode: Literal["fixed", "harmonious", "complementary"]
    strength: Unit = 0.0
    chroma: float = Field(default=0.03, ge=0.0, le=0.2, description="Least Oklab chroma of a re-hued colour.")
    targets: tuple[Literal["wall", "floor", "podium", "decor"], ...] = ()


class SceneStyle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name_ko: str
    name_en: str
    aliases: tuple[str, ...] = ()
    description: str = Field(description="One Korean line for the UI.")
    mood: tuple[str, ...] = Field(min_length=3, description="English keywords, the seed of a text-to-image prompt.")
    wall: WallSpec
    floor: FloorSpec
    light: LightSpec
    decor: tuple[DecorSpec, ...] = ()
    podium: PodiumSpec | None = None
    palette: PaletteRule = PaletteRule(mode="fixed")


STYLES: tuple[SceneStyle, ...] = (
    SceneStyle(
        id="traditional_market",
        name_ko="전통시장 분위기",
        name_en="Traditional market",
        aliases=("전통시장", "시장", "재래시장", "market", "traditional", "korean market"),
        description="따뜻한 나무 좌판과 은은한 등불 보케가 있는 정겨운 시장 분위기",
        mood=("warm", "rustic", "wooden market stall", "glowing lantern bokeh", "korean traditional market", "cozy"),
        wall=WallSpec(top="#24150E", bottom="#6A3C20", halo=0.45, key=0.25, vignette=0.35),
        floor=FloorSpec(
            material="wood",
            near="#946038",
            far="#6E4427",
            detail="#3A2212",
            horizon=0.64,
            planks="across",
            plank_width=0.1,
        ),
        light=LightSpec(azimuth_deg=125, elevation_deg=48, color="#FFC68A", softness=0.55),
        decor=(DecorSpec(kind="lanterns", colors=("#FFB347", "#FF7B3A", "#FFD47A", "#E8483A"), density=1.0),),
    ),
    SceneStyle(
        id="luxury",
        name_ko="고급스러운",
        name_en="Luxury",
        aliases=("고급", "럭셔리", "프리미엄", "premium", "elegant", "luxurious"),
        description="깊은 색의 그라데이션과 윤기 나는 대리석 바닥, 따뜻한 림 라이트",
        mood=("luxury", "premium", "dark elegant gradient", "glossy marble floor", "reflection", "warm rim light"),
        wall=WallSpec(top="#0A0A0E", bottom="#2A2630", halo=0.55, key=0.2, vignette=0.45, rim=0.5),
        floor=FloorSpec(material="marble", near="#121216", far="#2A2730", detail="#A49C8E", horizon=0.64, gloss=0.6),
        light=LightSpec(azimuth_deg=105, elevation_deg=58, color="#FFD9A0", softness=0.45),
        decor=(DecorSpec(kind="dust", colors=("#E9C27A", "#FFE3B0"), density=0.6, strength=0.5),),
        palette=PaletteRule(mode="complementary", strength=0.85, chroma=0.045, targets=("wall", "floor")),
    ),
    SceneStyle(
        id="minimal",
        name_ko="미니멀",
        name_en="Minimal",
        aliases=("심플", "깔끔한", "모던", "simple", "clean", "modern", "studio"),
        description="밝은 무한 배경과 부드러운 그림자, 깔끔한 스튜디오 컷",
        mood=("minimal", "clean studio", "seamless infinity cove", "soft shadow", "bright", "modern product shot"),
        wall=WallSpec(top="#E3E1DD", bottom="#F4F3F0", halo=0.3, key=0.22, vignette=0.18),
        floor=FloorSpec(material="seamless", near="#F3F2EF", far="#E7E5E1", detail="#D9D6D0", horizon=0.66, cove=0.16),
        light=LightSpec(azimuth_deg=130, elevation_deg=55, color="#FFFFFF", softness=0.8),
        decor=(DecorSpec(kind="gobo", colors=("#000000",), strength=0.16, chance=0.5),),
        podium=PodiumSpec(chance=0.5, color="#F7F5F2", width=0.62),
        palette=PaletteRule(mode="harmonious", strength=0.4, chroma=0.025, targets=("wall", "floor", "podium")),
    ),
    SceneStyle(
        id="cafe",
        name_ko="카페",
        name_en="Cafe",
        aliases=("카페 분위기", "커피숍", "coffee shop", "coffee", "brunch", "브런치"),
        description="베이지 벽에 드는 창가 햇살과 원목 테이블의 아늑한 카페",
        mood=("cozy cafe", "beige wall", "wooden tabletop", "window light", "warm bokeh", "morning sunlight"),
        wall=WallSpec(top="#CDB89C", bottom="#E8DAC5", halo=0.3, key=0.3, vignette=0.28, texture="plaster"),
        floor=FloorSpec(
            material="wood", near="#A06E44", far="#7E5535", detail="#4A2E1A", horizon=0.63, plank_width=0.15
        ),
        light=LightSpec(azimuth_deg=145, elevation_deg=40, color="#FFE2B8", softness=0.5),
        decor=(
            DecorSpec(kind="window", colors=("#FFF1D6",), strength=0.7),
            DecorSpec(kind="bokeh", colors=("#FFE0A8", "#FFF3DA"), density=0.5, strength=0.35),
        ),
    ),
    SceneStyle(
        id="nature",
        name_ko="자연/야외",
        name_en="Nature / outdoor",
        aliases=("자연", "야외", "숲", "nature", "outdoor", "outdoors", "garden"),
        description="맑은 하늘과 흐릿한 나뭇잎 보케, 햇살이 드는 야외",
        mood=("outdoor", "natural sunlight", "soft blue sky", "blurred green foliage bokeh", "fresh", "wooden deck"),
        wall=WallSpec(top="#6AAAE4", bottom="#D6EAF2", halo=0.25, key=0.2, vignette=0.2),
        floor=FloorSpec(
            material="wood",
            near="#B99B76",
            far="#9C8163",
            detail="#5E4B38",
            horizon=0.64,
            planks="across",
            plank_width=0.08,
        ),
        light=LightSpec(azimuth_deg=55, elevation_deg=55, color="#FFF4D6", softness=0.3),
        decor=(
            DecorSpec(kind="foliage", colors=("#2C5A2A", "#5A9140", "#A3CB64", "#F6F8C8")),
            DecorSpec(kind="sun", colors=("#FFF6D8",), strength=0.7),
        ),
    ),
    SceneStyle(
        id="neon",
        name_ko="네온/밤",
        name_en="Neon / night",
        aliases=("네온", "밤", "야간", "나이트", "neon", "night", "neon night", "cyberpunk"),
        description="어두운 벽에 빛나는 핑크·시안 네온과 젖은 바닥의 반사",
        mood=("neon lights", "night", "glowing pink and cyan tubes", "dark wall", "wet reflective floor", "vibrant"),
        wall=WallSpec(top="#06050D", bottom="#151030", halo=0.12, key=0.05, vignette=0.4),
        floor=FloorSpec(material="wet", near="#0A0912", far="#181430", detail="#2A2444", horizon=0.66, gloss=0.8),
        light=LightSpec(azimuth_deg=90, elevation_deg=38, color="#FF6ACD", softness=0.6, jitter_deg=25),
        decor=(DecorSpec(kind="neon", colors=("#FF3DB4", "#2EE6FF", "#A45CFF")),),
    ),
    SceneStyle(
        id="spring",
        name_ko="봄",
        name_en="Spring",
        aliases=("계절-봄", "season spring", "벚꽃", "cherry blossom", "봄날"),
        description="파스텔 핑크 배경에 흩날리는 벚꽃잎",
        mood=("spring", "pastel pink", "falling cherry blossom petals", "soft light", "fresh", "romantic"),
        wall=WallSpec(top="#F6D3DD", bottom="#FFF0F3", halo=0.35, key=0.2, vignette=0.15),
        floor=FloorSpec(material="seamless", near="#F9E3E8", far="#F2D2DA", detail="#E8B8C6", horizon=0.66, cove=0.08),
        light=LightSpec(azimuth_deg=130, elevation_deg=55, color="#FFF0F3", softness=0.7),
        decor=(
            DecorSpec(kind="bokeh", colors=("#FFFFFF", "#FFD6E2"), density=0.6, strength=0.35),
            DecorSpec(kind="petals", colors=("#F7B4C6", "#FFD3DF", "#F08FAE", "#FFE6EC")),
        ),
        podium=PodiumSpec(chance=0.4, color="#FFF5F7", width=0.54),
    ),
    SceneStyle(
        id="summer",
        name_ko="여름",
        name_en="Summer",
        aliases=("계절-여름", "season summer", "바다", "beach", "pool"),
        description="청량한 아쿠아 빛 물결과 햇살 받은 모래",
        mood=("summer", "bright aqua", "sunlit water caustics", "sand", "refreshing", "hard sunlight"),
        wall=WallSpec(top="#3FC3DB", bottom="#B8EEF0", halo=0.3, key=0.25, vignette=0.18),
        floor=FloorSpec(material="sand", near="#F2DDB2", far="#E2C894", detail="#C9A46A", horizon=0.65),
        light=LightSpec(azimuth_deg=60, elevation_deg=62, color="#FFFBEA", softness=0.15),
        decor=(
            DecorSpec(kind="caustics", colors=("#FFFFFF",), strength=0.5),
            DecorSpec(kind="sun", colors=("#FFFBE6",), strength=0.6),
        ),
    ),
    SceneStyle(
        id="autumn",
        name_ko="가을",
        name_en="Autumn",
        aliases=("계절-가을", "season autumn", "fall", "단풍"),
        description="따뜻한 주황·갈색 톤에 흐릿한 단풍잎",
        mood=("autumn", "warm orange and brown", "blurred maple leaves", "golden hour", "cozy", "harvest"),
        wall=WallSpec(top="#4A2410", bottom="#C27236", halo=0.4, key=0.3, vignette=0.35),
        floor=FloorSpec(
            material="wood",
            near="#6E4529",
            far="#4F3019",
            detail="#2A170B",
            horizon=0.65,
            planks="across",
            plank_width=0.09,
        ),
        light=LightSpec(azimuth_deg=150, elevation_deg=32, color="#FFB46A", softness=0.45),
        decor=(
            DecorSpec(kind="sun", colors=("#FFC47A",), strength=0.55),
            DecorSpec(kind="leaves", colors=("#E0561E", "#F08A24", "#F6B93B", "#B8321A", "#8E5A1C")),
        ),
    ),
    SceneStyle(
        id="winter",
        name_ko="겨울",
        name_en="Winter",
        aliases=("계절-겨울", "season winter", "눈", "snow", "christmas", "크리스마스"),
        description="차가운 블루·화이트 톤에 반짝이는 눈 보케",
        mood=("winter", "cool blue and white", "snow bokeh", "soft snow", "crisp", "festive"),
        wall=WallSpec(top="#9DB8D6", bottom="#E8F0F8", halo=0.4, key=0.2, vignette=0.22),
        floor=FloorSpec(material="snow", near="#F5F9FD", far="#D8E4EF", detail="#FFFFFF", horizon=0.66, cove=0.03),
        light=LightSpec(azimuth_deg=115, elevation_deg=45, color="#EAF2FF", softness=0.6),
        decor=(DecorSpec(kind="snow", colors=("#FFFFFF", "#E6F0FF")),),
    ),
    SceneStyle(
        id="pastel",
        name_ko="파스텔",
        name_en="Pastel",
        aliases=("파스텔톤", "pastel tone", "soft", "귀여운", "cute"),
        description="제품 색과 어울리는 파스텔 그라데이션과 원기둥 받침대",
        mood=("pastel gradient", "cylinder podium", "soft shadow", "playful", "dreamy", "3d render product stage"),
        wall=WallSpec(top="#F4D7E8", bottom="#DDE9F8", halo=0.25, key=0.2, vignette=0.12),
        floor=FloorSpec(material="seamless", near="#E6DDF3", far="#D9D0EC", detail="#CFC4E6", horizon=0.7, cove=0.03),
        light=LightSpec(azimuth_deg=135, elevation_deg=55, color="#FFFFFF", softness=0.75),
        decor=(DecorSpec(kind="arch", colors=("#EBC9DE",), strength=0.6),),
        podium=PodiumSpec(chance=1.0, color="#F3E6F2", width=0.66),
        palette=PaletteRule(
            mode="harmonious", strength=0.9, chroma=0.055, targets=("wall", "floor", "podium", "decor")
        ),
    ),
)

SEASONS = ("spring", "summer", "autumn", "winter")


def _season_names(style: SceneStyle) -> tuple[str, ...]:
    """A season word plus the season's own names: "계절-봄", "season: spring", "봄 시즌"."""
    return tuple(
        combo
        for n in (style.id, style.name_ko, style.name_en)
        for prefix in ("계절", "season", "시즌")
        for combo in (f"{prefix} {n}", f"{n} {prefix}")
    )


def _accepted(styles: Iterable[SceneStyle]) -> str:
    return ", ".join(f"{s.id} ({s.name_ko} / {s.name_en})" for s in styles)


LOOKUP = NameLookup(
    [
        *((s, (s.id, s.name_ko, s.name_en, *s.aliases)) for s in STYLES),
        *((s, _season_names(s)) for s in STYLES if s.id in SEASONS),
    ],
    what="scene style",
    field="style",
    accepted=_accepted(STYLES),
)
_BARE_SEASON = {fold(w) for w in ("계절", "season", "seasonal", "시즌", "사계절")}


def list_styles() -> list[SceneStyle]:
    return list(STYLES)


def resolve_style(name: str) -> SceneStyle:
    """The style for an id, Korean or English name, or alias (spelled as `lookup.fold` allows).

    Raises InvalidInput (field "style") listing every style for an unknown name, and listing the
    four seasons for a bare "계절"/"season", which names none of them.
    """
    if fold(name or "") in _BARE_SEASON:
        raise InvalidInput(
            f"{name!r} names no season; pick one",
            field="style",
            accepted=_accepted(s for s in STYLES if s.id in SEASONS),
        )
    return LOOKUP.resolve(name)


def guess_style(prompt: str) -> SceneStyle | None:
    """The style a free-text scene prompt names (the seed's `bg_prompt`), by its longest name or alias in it."""
    return LOOKUP.find_in(prompt)
