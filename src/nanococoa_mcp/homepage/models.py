"""The homepage generator's typed contract: the store record it starts from and the validated output of
every node (brainstorm, A concept … H package). Models the LLM writes forbid extra keys and carry no
optional fields, so each maps onto a strict JSON schema."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

PageSlug = Literal["index", "about", "services", "contact"]
PAGE_SLUGS: tuple[PageSlug, ...] = ("index", "about", "services", "contact")
SectionKind = Literal[
    "hero", "highlights", "products", "offer", "story", "values", "services", "audience", "hours", "location",
    "contact", "cta",
]
PaletteName = Literal["warm", "fresh", "calm", "bold", "natural", "elegant"]
Speaker = Literal["manager", "marketer", "designer"]
WriterName = Literal["llm", "builtin"]
# The workflow's nodes in order (seed A–H, brainstorm first): a homepage job's steps. Here, not in graph.py, so
# that the job kind names its steps without importing LangGraph (seconds of imports in every server process).
NODES = ("brainstorm", "concept", "marketing", "structure", "content", "images", "header_footer", "pages", "package")
MAX_PHOTOS = 4  # the product photos one run takes


def _c(max_length: int, min_length: int = 1) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


# Stripped, non-empty text of at most N characters.
Text12 = Annotated[str, _c(12)]
Text16 = Annotated[str, _c(16)]
Text20 = Annotated[str, _c(20)]
Text30 = Annotated[str, _c(30)]
Text40 = Annotated[str, _c(40)]
Text60 = Annotated[str, _c(60)]
Text80 = Annotated[str, _c(80)]
Text120 = Annotated[str, _c(120)]
Text160 = Annotated[str, _c(160)]
Text200 = Annotated[str, _c(200)]
Text300 = Annotated[str, _c(300)]
Text400 = Annotated[str, _c(400)]
Text600 = Annotated[str, _c(600)]
Text1500 = Annotated[str, _c(1500)]


# Korean numbers as people write them: Seoul 02, the regional area codes, mobiles, 070 internet phones,
# 050x safe numbers and the nationwide representative numbers (1588-xxxx and the like).
_PHONE = re.compile(
    r"^(?:02-\d{3,4}-\d{4}"
    r"|0(?:3[1-3]|4[1-4]|5[1-5]|6[1-4])-\d{3,4}-\d{4}"
    r"|01[016789]-\d{3,4}-\d{4}"
    r"|070-\d{4}-\d{4}"
    r"|050\d-\d{3,4}-\d{4}"
    r"|1[5-9]\d{2}-\d{4})$"
)
PHONE_FORMATS = "02-123-4567, 031-123-4567, 010-1234-5678, 070-1234-5678, 0505-123-4567, 1588-1234"


class StoreRecord(BaseModel):
    """A shop as the seed's CustomerData has it, plus optional opening hours and a free description."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    store_name: str = Field(min_length=1, max_length=40, description="상호, e.g. 김밥천국 강남점.")
    store_type: str = Field(min_length=1, max_length=40, description="업종, e.g. 음식점 (분식).")
    budget: int = Field(ge=0, le=100_000_000, description="Advertising budget in 만원 (10,000 won).")
    period: int = Field(ge=1, le=3650, description="Advertising period in days.")
    advertising_goal: str = Field(min_length=1, max_length=200, description="e.g. 신규 고객 유치.")
    target_customer: str = Field(min_length=1, max_length=200, description="e.g. 20-30대 직장인.")
    advertising_media: str = Field(min_length=1, max_length=200, description="Channels, comma separated.")
    store_strength: str = Field(min_length=1, max_length=500, description="Strengths, comma separated.")
    location: str = Field(min_length=1, max_length=200, description="Address.")
    phone_number: str = Field(description=f"A Korean number with hyphens: {PHONE_FORMATS}.")
    opening_hours: str | None = Field(
        default=None, min_length=1, max_length=200, description="e.g. 매일 10:00-22:00, 평일 09:00~18:00."
    )
    description: str | None = Field(default=None, min_length=1, max_length=1000, description="Anything else.")

    @field_validator("phone_number")
    @classmethod
    def _phone(cls, value: str) -> str:
        if not _PHONE.match(value):
            raise ValueError(f"not a Korean phone number with hyphens (accepted: {PHONE_FORMATS})")
        return value


# --- brainstorm -------------------------------------------------------------------------------------------


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speaker: Speaker
    round: int = Field(ge=1, le=5)
    message: Text1500


class Synthesis(BaseModel):
    """The manager's decision after the meeting; the nodes after it follow this direction."""

    model_config = ConfigDict(extra="forbid")

    direction: Text300
    key_message: Text60
    tone: Text80
    design_direction: Text300
    priorities: list[Text120] = Field(min_length=2, max_length=5)


class Brainstorm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    turns: list[Turn] = Field(min_length=3, max_length=15)
    synthesis: Synthesis


# --- A concept, B marketing, C structure --------------------------------------------------------------------


class Value(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text30
    text: Text200


class Concept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    concept: Text80
    brand_identity: Text600
    values: list[Value] = Field(min_length=2, max_length=4)
    tone: Text80
    keywords: list[Text20] = Field(min_length=2, max_length=6)
    palette: PaletteName = Field(description="A vetted colour palette, chosen by name (contrast is ours to keep).")


class Channel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text30
    action: Text200
    budget_share: int = Field(ge=0, le=100, description="Percent of the budget.")


class MarketingStrategy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_audience: Text300
    personas: list[Text200] = Field(min_length=1, max_length=3)
    messaging: list[Text120] = Field(min_length=2, max_length=5)
    channels: list[Channel] = Field(min_length=1, max_length=6)
    campaign: Text200
    budget_plan: Text300
    kpis: list[Text120] = Field(min_length=2, max_length=5)

    @model_validator(mode="after")
    def _shares(self) -> MarketingStrategy:
        total = sum(c.budget_share for c in self.channels)
        if total != 100:
            raise ValueError(f"the channels' budget shares add up to {total}, not 100")
        return self


class PagePlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: PageSlug
    title: Text30
    nav_label: Text12
    purpose: Text200
    sections: list[SectionKind] = Field(min_length=1, max_length=8)

    @field_validator("sections")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a section appears twice on one page")
        return value


class SiteStructure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pages: list[PagePlan] = Field(min_length=4, max_length=4)
    layout: Text200

    @model_validator(mode="after")
    def _four_pages(self) -> SiteStructure:
        slugs = tuple(p.slug for p in self.pages)
        if slugs != PAGE_SLUGS:
            raise ValueError(f"the pages must be {', '.join(PAGE_SLUGS)} in this order, not {', '.join(slugs)}")
        if "hero" not in self.pages[0].sections:
            raise ValueError("the home page must open with a hero section")
        return self

    def page(self, slug: PageSlug) -> PagePlan:
        return next(p for p in self.pages if p.slug == slug)


# --- D content ------------------------------------------------------------------------------------------------


class Feature(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text30
    text: Text200


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text40
    description: Text300


class AdCopy(BaseModel):
    """The copy typeset on one ad image: short, so it reads at a glance."""

    model_config = ConfigDict(extra="forbid")

    copy_text: Text20 = Field(description="Main line, at most 20 characters.")
    sub_copy: Annotated[str, _c(30, min_length=0)] = Field(description="Second line or empty.")


class PageContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hero_headline: Text40
    hero_subheadline: Text120
    cta_label: Text16
    highlights: list[Feature] = Field(min_length=2, max_length=4)
    story: list[Text400] = Field(min_length=1, max_length=4)
    services: list[Service] = Field(min_length=1, max_length=8)
    audience: list[Text120] = Field(min_length=1, max_length=4)
    offer_title: Text40
    offer_text: Text200
    cta_headline: Text40
    cta_text: Text200
    contact_intro: Text200
    directions: Text200
    hero_ad: AdCopy
    product_ads: list[AdCopy] = Field(min_length=1, max_length=3)
    cta_ad: AdCopy
    meta_title: Text60
    meta_description: Text160


# --- E images ---------------------------------------------------------------------------------------------------

ImageId = Annotated[str, StringConstraints(pattern=r"^(hero|product_[1-3]|cta)$")]


class ImageSpec(BaseModel):
    """One ad to make with generate_ad_image for the site."""

    model_config = ConfigDict(extra="forbid")

    id: ImageId
    photo: str = Field(description="Path of the store's product photo it starts from.")
    copy_text: Text40
    sub_copy: str = Field(max_length=40)
    style: str = Field(min_length=1, max_length=40)
    text_style: str = Field(min_length=1, max_length=40)
    size: str = Field(min_length=1, max_length=16)
    alt: Text200


class ImagePlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    images: list[ImageSpec] = Field(max_length=5)


class GeneratedImage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: ImageId
    file: str = Field(description="Path inside the site, e.g. images/hero.png.")
    ad_job_id: str
    alt: Text200
    width: int = Field(gt=0)
    height: int = Field(gt=0)


class SkippedImage(BaseModel):
    """An ad the site goes without: the ad tool refused its photo (the run goes on with the others)."""

    model_config = ConfigDict(extra="forbid")

    id: ImageId
    photo: str = Field(description="The store's photo the ad tool refused.")
    reason: str = Field(description="What the ad tool said, e.g. generate_ad_image refused product_image_path: …")


# --- F header/footer, G pages, H package ------------------------------------------------------------------------


class NavItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: PageSlug
    label: Text12


class HeaderFooter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brand: Text40
    tagline: Text60
    nav: list[NavItem] = Field(min_length=4, max_length=4)
    skip_label: Text20
    footer_blurb: Text200
    copyright: Text80

    @field_validator("nav")
    @classmethod
    def _every_page_once(cls, value: list[NavItem]) -> list[NavItem]:
        if sorted(n.slug for n in value) != sorted(PAGE_SLUGS):
            raise ValueError(f"the navigation must link each of {', '.join(PAGE_SLUGS)} once")
        return value


class RenderedPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(pattern=r"^(index|about|services|contact)\.html$")
    title: str
    html: str = Field(min_length=1)


class Pages(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pages: list[RenderedPage] = Field(min_length=4, max_length=4)
    stylesheet: str = Field(min_length=1, description="The site's one stylesheet (css/style.css).")


class Package(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: str
    output_path: str
    pages: list[str]
    images: list[str]
    zip_path: str
    files: int
    bytes: int


class NodeNote(BaseModel):
    """Which writer made a node's output, and why the built-in one stood in when an LLM was configured."""

    model_config = ConfigDict(extra="forbid")

    node: str
    writer: WriterName
    reason: str | None = None


STATE_MODELS: tuple[type[BaseModel], ...] = (
    StoreRecord, Turn, Synthesis, Brainstorm, Value, Concept, Channel, MarketingStrategy, PagePlan, SiteStructure,
    Feature, Service, AdCopy, PageContent, ImageSpec, ImagePlan, GeneratedImage, SkippedImage, NavItem, HeaderFooter,
    RenderedPage, Pages, Package, NodeNote,
)
