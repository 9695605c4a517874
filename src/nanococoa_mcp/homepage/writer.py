"""Who writes the site's words and plan, node by node: the deterministic built-in writer (Korean copy and a
sensible structure from the store record alone, so the feature works with no LLM), and `writer_for`, which
picks the LLM writer when an endpoint is configured (it falls back to this one per node, with the reason)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from nanococoa_mcp.homepage.korean import clip, josa, split_items
from nanococoa_mcp.homepage.models import (
    AdCopy,
    Brainstorm,
    Channel,
    Concept,
    Feature,
    HeaderFooter,
    MarketingStrategy,
    NavItem,
    NodeNote,
    PageContent,
    PagePlan,
    Service,
    SiteStructure,
    StoreRecord,
    Synthesis,
    Turn,
    Value,
    WriterName,
)
from nanococoa_mcp.homepage.profiles import Profile, profile_for
from nanococoa_mcp.settings import Settings

T = TypeVar("T", bound=BaseModel)
BRAINSTORM_ROUNDS = 2  # manager → marketer → designer, twice, then the manager's synthesis

PALETTE_WORDS = {
    "warm": "따뜻한 주황과 크림",
    "fresh": "싱그러운 초록과 흰색",
    "calm": "차분한 남색과 회색",
    "bold": "선명한 빨강과 흰색",
    "natural": "자연스러운 올리브와 베이지",
    "elegant": "우아한 자주와 아이보리",
}
_NEIGHBOURHOOD = re.compile(r"(동|로|길|가|읍|면|리)$")
_DISTRICT = re.compile(r"(구|군|시)$")


@dataclass(frozen=True, slots=True)
class Written(Generic[T]):
    """A node's output and the note saying which writer made it."""

    output: T
    note: NodeNote


class Writer(Protocol):
    name: WriterName

    async def brainstorm(self, store: StoreRecord) -> Written[Brainstorm]: ...

    async def concept(self, store: StoreRecord, brainstorm: Brainstorm) -> Written[Concept]: ...

    async def marketing(
        self, store: StoreRecord, brainstorm: Brainstorm, concept: Concept
    ) -> Written[MarketingStrategy]: ...

    async def structure(
        self, store: StoreRecord, concept: Concept, marketing: MarketingStrategy
    ) -> Written[SiteStructure]: ...

    async def content(
        self, store: StoreRecord, concept: Concept, marketing: MarketingStrategy, structure: SiteStructure
    ) -> Written[PageContent]: ...

    async def header_footer(
        self, store: StoreRecord, concept: Concept, structure: SiteStructure
    ) -> Written[HeaderFooter]: ...


def writer_for(settings: Settings) -> Writer:
    """The LLM writer when an endpoint is configured (base URL or API key), else the built-in one."""
    if settings.llm_base_url or settings.llm_api_key:
        from nanococoa_mcp.homepage.llm_writer import LlmWriter

        return LlmWriter(settings)
    return BuiltinWriter()


@dataclass(frozen=True, slots=True)
class Facts:
    """What the record says, in the shapes the sentences need."""

    store: StoreRecord
    profile: Profile
    kind: str  # "분식" from "음식점 (분식)"
    strengths: list[str]
    media: list[str]
    area: str  # "서울 강남구"
    neighbourhood: str  # "테헤란로"

    @classmethod
    def of(cls, store: StoreRecord) -> Facts:
        inner = re.search(r"\(([^)]+)\)", store.store_type)
        kind = (inner.group(1) if inner else store.store_type).strip() or store.store_type
        words = store.location.split()
        hood = next((w for w in reversed(words) if _NEIGHBOURHOOD.search(w)), "")
        district = next((w for w in words if _DISTRICT.search(w)), "")
        area = " ".join(words[: words.index(district) + 1]) if district else " ".join(words[:2])
        return cls(
            store=store,
            profile=profile_for(store.store_type),
            kind=kind,
            strengths=split_items(store.store_strength) or [store.store_strength],
            media=split_items(store.advertising_media) or [store.advertising_media],
            area=area or store.location,
            neighbourhood=hood or district or (words[0] if words else store.location),
        )

    @property
    def first(self) -> str:
        return self.strengths[0]

    def goal_is(self, *words: str) -> bool:
        return any(w in self.store.advertising_goal for w in words)


def repr_q(text: str) -> str:
    """Text in Korean quotes: 'text'."""
    return f"'{text}'"


def _note(node: str) -> NodeNote:
    return NodeNote(node=node, writer="builtin")


class BuiltinWriter:
    """Korean copy and structure from the store record alone: nothing is invented beyond what the owner
    wrote (no prices, discounts or menus the record does not name)."""

    name: WriterName = "builtin"

    async def brainstorm(self, store: StoreRecord) -> Written[Brainstorm]:
        return Written(build_brainstorm(Facts.of(store)), _note("brainstorm"))

    async def concept(self, store: StoreRecord, brainstorm: Brainstorm) -> Written[Concept]:
        return Written(build_concept(Facts.of(store)), _note("concept"))

    async def marketing(
        self, store: StoreRecord, brainstorm: Brainstorm, concept: Concept
    ) -> Written[MarketingStrategy]:
        return Written(build_marketing(Facts.of(store)), _note("marketing"))

    async def structure(
        self, store: StoreRecord, concept: Concept, marketing: MarketingStrategy
    ) -> Written[SiteStructure]:
        return Written(build_structure(Facts.of(store)), _note("structure"))

    async def content(
        self, store: StoreRecord, concept: Concept, marketing: MarketingStrategy, structure: SiteStructure
    ) -> Written[PageContent]:
        return Written(build_content(Facts.of(store), concept), _note("content"))

    async def header_footer(
        self, store: StoreRecord, concept: Concept, structure: SiteStructure
    ) -> Written[HeaderFooter]:
        return Written(build_header_footer(Facts.of(store), concept, structure), _note("header_footer"))


# --- brainstorm -------------------------------------------------------------------------------------------------


def _kpis(f: Facts) -> list[str]:
    if f.goal_is("재방문", "단골", "충성"):
        return ["재방문 손님 비율", "전화 문의 수(tel 링크 클릭)", "채널별 게시물 반응 수"]
    if f.goal_is("매출", "판매", "객단가"):
        return ["일 매출과 객단가", "전화 주문·문의 수", "홈페이지 방문 수"]
    return ["홈페이지 방문 수", "전화 연결 수(tel 링크 클릭)", "첫 방문 손님 수"]


def build_brainstorm(f: Facts) -> Brainstorm:
    s, p = f.store, f.profile
    name = s.store_name
    media = ", ".join(f.media)
    rounds = [
        (
            f"{name}의 홈페이지 방향을 정해 봅시다. 업종은 {s.store_type}, 위치는 {s.location}입니다. 이번 광고의 "
            f"목표는 '{s.advertising_goal}', 예산은 {s.budget:,}만원, 기간은 {s.period}일이고, 주요 고객은 "
            f"{s.target_customer}입니다.",
            f"{s.target_customer}에게는 {josa(repr_q(f.first), '이')} 가장 강한 방문 이유가 됩니다. "
            f"첫 화면에서 이 점을 분명히 말하고, {media}에서 같은 메시지를 반복해 손님을 홈페이지로 모으겠습니다.",
            f"{p.mood} 느낌으로 {PALETTE_WORDS[p.palette]} 색을 쓰겠습니다. 첫 화면에는 가게 사진으로 만든 광고 "
            "이미지와 전화 버튼을 크게 두고, 휴대폰으로 보는 손님이 많으니 글은 짧게, 버튼은 누르기 쉽게 하겠습니다.",
        ),
        (
            f"좋습니다. 목표가 '{s.advertising_goal}'인 만큼, 처음 보는 손님도 {name}에 가야 할 이유를 한눈에 "
            f"알 수 있어야 합니다. 강점 {len(f.strengths)}가지를 어떻게 보여 줄지 정리해 주세요.",
            f"강점은 {', '.join(f.strengths)} 순서로 카드에 담고, 연락처 페이지에는 주소와 전화 연결을 바로 "
            f"보이게 하겠습니다. 성과는 {josa(_kpis(f)[0], '으로')} 확인하겠습니다.",
            f"소개 페이지에는 가게 이야기와 약속을, {p.noun} 페이지에는 {josa(p.noun, '과')} 추천 손님을, 오시는 길 "
            "페이지에는 영업시간과 주소를 두겠습니다. 네 페이지 모두 같은 머리말과 바닥글로 묶겠습니다.",
        ),
    ]
    turns = [
        Turn(speaker=speaker, round=r, message=message)
        for r, messages in enumerate(rounds[:BRAINSTORM_ROUNDS], start=1)
        for speaker, message in zip(("manager", "marketer", "designer"), messages, strict=True)
    ]
    synthesis = Synthesis(
        direction=clip(f"{josa(s.target_customer, '을')} 위한, '{f.first}' 중심의 {f.kind} 홈페이지", 300),
        key_message=clip(f"{f.first} {f.kind}, {name}", 60),
        tone=p.tone,
        design_direction=clip(
            f"{PALETTE_WORDS[p.palette]} 색조, 가게 사진으로 만든 큰 광고 이미지, "
            "눈에 띄는 전화 버튼, 휴대폰 우선의 배치",
            300,
        ),
        priorities=[
            clip(f"첫 화면에서 '{f.first}' 전달", 120),
            "전화 연결과 오시는 길까지 한 번에",
            clip(f"{josa(media, '과')} 같은 메시지 유지", 120),
        ],
    )
    return Brainstorm(turns=turns, synthesis=synthesis)


# --- A concept, B marketing, C structure --------------------------------------------------------------------------

_VALUE_TEXTS = (
    "{name}{i_ga} 가장 자신 있게 내세우는 점입니다. 한 번 경험해 보시면 차이를 느끼실 거예요.",
    "{target}의 바쁜 하루를 생각해 준비했습니다. 부담 없이 찾아 주세요.",
    "처음 오신 분도 단골처럼 편안하게, 매일 같은 마음으로 지키는 약속입니다.",
    "작은 부분까지 꼼꼼히 챙깁니다.",
)


def build_concept(f: Facts) -> Concept:
    s = f.store
    name = s.store_name
    identity = (
        f"{josa(name, '은')} {s.location}에 자리한 {f.kind} {f.profile.place}입니다. "
        f"{josa(', '.join(f.strengths[:3]), '을')} 약속으로 삼아 {s.target_customer}의 일상 가까이에 있는 "
        f"{josa(f.profile.place, '이')} 되고자 합니다."
    )
    values = [
        Value(
            title=clip(strength, 30),
            text=clip(_VALUE_TEXTS[i].format(name=name, i_ga=josa(name, "이")[len(name):], target=s.target_customer),
                      200),
        )
        for i, strength in enumerate(f.strengths[:3])
    ]
    if len(values) < 2:
        values.append(
            Value(title=clip(f"{f.neighbourhood} 가까이", 30),
                  text=clip(f"{s.location}에 있어 오가는 길에 들르기 좋습니다.", 200))
        )
    keywords: list[str] = []
    for word in (f.kind, f.neighbourhood, *f.strengths[:3]):
        word = clip(word, 20)
        if word and word not in keywords:
            keywords.append(word)
    return Concept(
        concept=clip(f"{josa(f.first, '으로')} 기억되는 {f.area}의 {f.kind}", 80),
        brand_identity=clip(identity, 600),
        values=values,
        tone=f.profile.tone,
        keywords=[*keywords, f.profile.noun][:6] if len(keywords) < 2 else keywords[:6],
        palette=f.profile.palette,
    )


_CHANNEL_ACTIONS = (
    (("블로그",), "방문 후기와 {noun} 소개 글을 주 2회 올리고, 글마다 홈페이지와 전화번호를 연결합니다."),
    (("인스타",), "매장 사진과 광고 이미지를 주 3회 올리고, {hood} 지역 해시태그를 붙입니다."),
    (("플레이스", "지도"), "영업시간·사진·소식을 최신으로 유지하고, 홈페이지 주소를 등록합니다."),
    (("카카오",), "채널 친구에게 소식과 이벤트를 월 2회 보내고, 상담을 채팅으로 받습니다."),
    (("당근",), "동네 생활 게시판과 비즈프로필에 {hood} 손님을 위한 소식을 올립니다."),
    (("유튜브", "쇼츠", "릴스", "틱톡"), "{noun_gwa} 매장 분위기를 담은 짧은 영상을 주 1회 올립니다."),
    (("전단", "현수막", "포스터"), "{hood} 주변에 전화번호와 홈페이지 주소를 담아 배포합니다."),
)


def _channel_action(name: str, f: Facts) -> str:
    for words, action in _CHANNEL_ACTIONS:
        if any(w in name for w in words):
            return action.format(noun=f.profile.noun, noun_gwa=josa(f.profile.noun, "과"), hood=f.neighbourhood)
    return "같은 핵심 메시지와 광고 이미지로 꾸준히 알리고, 홈페이지로 연결합니다."


def _campaign(f: Facts) -> str:
    s = f.store
    if f.goal_is("재방문", "단골", "충성"):
        return "스탬프나 재방문 혜택으로 단골을 늘리는 캠페인을 운영해 보세요."
    if f.goal_is("매출", "판매", "객단가"):
        return f"대표 {josa(f.profile.noun, '을')} 묶은 구성으로 한 번 방문의 만족을 높여 보세요."
    if f.goal_is("리뷰", "후기"):
        return "방문 후기를 남긴 손님께 작은 감사를 전하는 리뷰 캠페인을 운영해 보세요."
    if f.goal_is("신규", "유치", "오픈", "인지", "홍보"):
        return f"'홈페이지 보고 왔어요'라고 말하는 첫 방문 손님을 반기는 이벤트를 {s.period}일 동안 운영해 보세요."
    return clip(f"{josa(repr_q(s.advertising_goal), '을')} 위해 {s.period}일 동안 같은 메시지로 꾸준히 알리세요.", 200)


def build_marketing(f: Facts) -> MarketingStrategy:
    s = f.store
    names = [clip(m, 30) for m in f.media[:6]]
    share, extra = divmod(100, len(names))
    channels = [
        Channel(name=n, action=_channel_action(n, f), budget_share=share + (extra if i == 0 else 0))
        for i, n in enumerate(names)
    ]
    if s.budget:
        daily = f"{s.budget / s.period:.1f}".removesuffix(".0")
        split = ", ".join(f"{c.name} {c.budget_share}%" for c in channels)
        plan = f"{s.period}일 동안 총 {s.budget:,}만원(하루 약 {daily}만원)을 {split}로 나눠 씁니다."
    else:
        plan = f"별도 광고비 없이 {s.period}일 동안 채널마다 직접 올리는 게시물로 운영합니다."
    messaging = [clip(f"{strength}, {s.store_name}", 120) for strength in f.strengths[:3]]
    messaging.append(clip(f"{f.neighbourhood}에서 가까운 {f.kind}", 120))
    return MarketingStrategy(
        target_audience=clip(f"{s.target_customer}. {f.area} 가까이에서 {josa(f.kind, '을')} 찾는 손님", 300),
        personas=[
            clip(f"{f.area} 근처의 {s.target_customer}: 가까운 곳에서 믿을 만한 {josa(f.kind, '을')} 찾는 분", 200),
            clip(f"{f.media[0]}에서 정보를 찾아보고 방문을 정하는 분", 200),
        ],
        messaging=messaging[:5],
        channels=channels,
        campaign=_campaign(f),
        budget_plan=clip(plan, 300),
        kpis=_kpis(f),
    )


def build_structure(f: Facts) -> SiteStructure:
    noun = f.profile.noun
    return SiteStructure(
        pages=[
            PagePlan(slug="index", title="홈", nav_label="홈",
                     purpose=clip(f"첫 화면에서 {josa(repr_q(f.first), '을')} 전하고 전화와 방문으로 이끕니다.", 200),
                     sections=["hero", "highlights", "products", "offer", "cta"]),
            PagePlan(slug="about", title="가게 소개", nav_label="소개",
                     purpose="가게의 이야기와 약속, 어떤 손님을 위한 곳인지 알립니다.",
                     sections=["story", "values", "audience"]),
            PagePlan(slug="services", title=f"{noun} 안내", nav_label=noun,
                     purpose=f"{josa(noun, '과')} 강점을 자세히 보여 주고 문의로 이끕니다.",
                     sections=["services", "products", "offer", "cta"]),
            PagePlan(slug="contact", title="오시는 길·연락처", nav_label="오시는 길",
                     purpose="주소, 전화, 영업시간을 한눈에 보여 줍니다.",
                     sections=["contact", "hours", "location"]),
        ],
        layout="휴대폰 우선의 한 단 배치, 넓은 화면에서는 두세 단 카드, 모든 페이지에 같은 머리말과 바닥글",
    )


# --- D content, F header/footer ---------------------------------------------------------------------------------

_HIGHLIGHT_TEXTS = (
    "{name}{eul} 찾는 가장 큰 이유입니다.",
    "{target}의 바쁜 하루에 맞췄습니다.",
    "매일 같은 마음으로 지키는 약속입니다.",
    "작은 부분까지 꼼꼼히 챙깁니다.",
)


_SERVICE_TEXTS: tuple[Callable[[str, str], str], ...] = (
    lambda name, x: f"{name}의 {josa(x, '은')} 직접 와 보시면 바로 느끼실 수 있습니다.",
    lambda name, x: f"{josa(x, '은')} {josa(name, '이')} 매일 지키는 기본입니다. 궁금한 점은 전화로 편하게 물어보세요.",
    lambda name, x: f"처음 오신 분도 {josa(x, '을')} 바로 경험하실 수 있도록 준비했습니다.",
    lambda name, x: f"{x}, {name}에서 직접 확인해 보세요.",
    lambda name, x: f"{x}까지 꼼꼼하게 챙기겠습니다.",
)


def build_content(f: Facts, concept: Concept) -> PageContent:
    s, p = f.store, f.profile
    name, phone = s.store_name, s.phone_number
    eul = josa(name, "을")[len(name):]
    highlights = [
        Feature(title=clip(strength, 30),
                text=_HIGHLIGHT_TEXTS[i].format(name=name, eul=eul, target=clip(s.target_customer, 60)))
        for i, strength in enumerate(f.strengths[:4])
    ]
    if len(highlights) < 2:
        highlights.append(Feature(title=clip(f"{f.neighbourhood}에서 가까이", 30),
                                  text=clip(f"{s.location}에 있어 오가는 길에 들르기 좋습니다.", 200)))
    story = [concept.brand_identity[:400]]
    if s.description:
        story.append(clip(s.description, 400))
    story.append(clip(
        f"{josa(', '.join(f.strengths[:3]), '은')} 처음 문을 연 날부터 지켜 온 약속입니다. "
        f"{s.target_customer}의 하루에 가까운 {josa(p.place, '이')} 되겠습니다.", 400))
    services = [
        Service(name=clip(strength, 40), description=clip(_SERVICE_TEXTS[i % len(_SERVICE_TEXTS)](name, strength), 300))
        for i, strength in enumerate(f.strengths[:5])
    ]
    call = f"{josa(phone, '으로')} 전화 주시면 {josa(p.noun, '과')} 방문 시간을 자세히 안내해 드립니다."
    services.append(Service(name="전화 문의·예약", description=clip(call, 300)))
    if f.goal_is("재방문", "단골", "충성"):
        offer_title = "다시 찾아 주셔서 고맙습니다"
    elif f.goal_is("신규", "유치", "오픈", "인지", "홍보"):
        offer_title = "처음 오시는 분을 환영합니다"
    else:
        offer_title = clip(f"지금 {name}에서 만나요", 40)
    product_ads = [AdCopy(copy_text=clip(strength, 20), sub_copy=clip(name, 30)) for strength in f.strengths[:3]]
    return PageContent(
        hero_headline=clip(f"{f.neighbourhood}의 {f.kind}, {name}", 40),
        hero_subheadline=clip(
            f"{', '.join(f.strengths[:3])}. {s.target_customer}에게 꼭 맞는 {f.kind} {p.place}입니다.", 120
        ),
        cta_label="전화로 문의하기",
        highlights=highlights,
        story=story[:4],
        services=services[:8],
        audience=[clip(x, 120) for x in (
            s.target_customer, f"{f.area} 근처에서 {josa(f.kind, '을')} 찾는 분", f"{josa(f.first, '이')} 중요한 분"
        )],
        offer_title=offer_title,
        offer_text=clip(
            f"{josa(f.first, '을')} 직접 경험해 보세요. 궁금한 점은 {josa(phone, '으로')} 물어봐 주세요.", 200
        ),
        cta_headline=clip(f"{name}에서 기다리고 있겠습니다", 40),
        cta_text=clip(f"{s.location}. 전화 한 통이면 자세히 안내해 드립니다.", 200),
        contact_intro=clip(f"{josa(name, '은')} {s.location}에 있습니다. 방문 전 궁금한 점은 전화로 편하게 "
                           "문의해 주세요.", 200),
        directions=clip(f"지도 앱에서 {josa(repr_q(name), '을')} 검색하거나 주소 {josa(repr_q(s.location), '으로')} "
                        "찾아오세요.", 200),
        hero_ad=AdCopy(copy_text=clip(name, 20), sub_copy=clip(f.first, 30)),
        product_ads=product_ads,
        cta_ad=AdCopy(copy_text=p.invite, sub_copy=phone),
        meta_title=clip(f"{name} | {f.neighbourhood} {f.kind}", 60),
        meta_description=clip(f"{name}: {s.location}의 {f.kind}. {', '.join(f.strengths[:3])}. 전화 {phone}.", 160),
    )


def build_header_footer(f: Facts, concept: Concept, structure: SiteStructure) -> HeaderFooter:
    s = f.store
    return HeaderFooter(
        brand=s.store_name,
        tagline=clip(concept.concept, 60),
        nav=[NavItem(slug=p.slug, label=p.nav_label) for p in structure.pages],
        skip_label="본문 바로가기",
        footer_blurb=clip(f"{s.store_name} · {s.store_type} · {concept.concept}", 200),
        copyright=clip(f"© {dt.date.today().year} {s.store_name}", 80),
    )
