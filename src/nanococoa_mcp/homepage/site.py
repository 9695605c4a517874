"""The static site: node G renders the four pages (semantic, accessible, responsive HTML, every text escaped)
and node H writes them with the images and the one local stylesheet under `generated_sites/`, plus a zip.
The site needs no network: no CDN, no web fonts, no script but the JSON-LD data block."""

from __future__ import annotations

import html
import json
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from nanococoa_mcp.ad.color import contrast_ratio, hex_to_rgb, relative_luminance
from nanococoa_mcp.homepage.korean import clip, josa
from nanococoa_mcp.homepage.models import (
    Concept,
    GeneratedImage,
    HeaderFooter,
    Package,
    PageContent,
    PagePlan,
    Pages,
    PaletteName,
    RenderedPage,
    SectionKind,
    SiteStructure,
    StoreRecord,
)
from nanococoa_mcp.homepage.profiles import profile_for

SITES_DIR = "generated_sites"
CSS_PATH = "css/style.css"
MIN_CONTRAST = 4.5

# Vetted palettes: text and muted on bg and surface, on-primary on primary, primary (links) on bg and surface
# all reach 4.5 (tests/homepage/test_site.py measures every pair).
PALETTES: dict[PaletteName, dict[str, str]] = {
    "warm": {"primary": "#A63A0B", "on-primary": "#FFFFFF", "accent": "#F4A259", "bg": "#FFF8F0",
             "surface": "#FFFFFF", "text": "#2B1A12", "muted": "#5E4535", "line": "#EAD9C8"},
    "fresh": {"primary": "#1D6B40", "on-primary": "#FFFFFF", "accent": "#8CCB9F", "bg": "#F5FBF7",
              "surface": "#FFFFFF", "text": "#13261B", "muted": "#435C4D", "line": "#D3E8DA"},
    "calm": {"primary": "#1E3A5F", "on-primary": "#FFFFFF", "accent": "#9DB4D0", "bg": "#F5F7FA",
             "surface": "#FFFFFF", "text": "#1B2430", "muted": "#4A5768", "line": "#D8DFE8"},
    "bold": {"primary": "#B3261E", "on-primary": "#FFFFFF", "accent": "#F2B8B5", "bg": "#FFF7F5",
             "surface": "#FFFFFF", "text": "#1F1B1A", "muted": "#5A4744", "line": "#F0D6D3"},
    "natural": {"primary": "#4B5E29", "on-primary": "#FFFFFF", "accent": "#C9B98F", "bg": "#FAF7EF",
                "surface": "#FFFFFF", "text": "#2A2A1F", "muted": "#575543", "line": "#E6DFCB"},
    "elegant": {"primary": "#6B2D5C", "on-primary": "#FFFFFF", "accent": "#D8B4CF", "bg": "#FFFCF7",
                "surface": "#FFFFFF", "text": "#2A1F29", "muted": "#5B4A57", "line": "#EADCE5"},
}
INK_PAIRS = (("text", "bg"), ("text", "surface"), ("muted", "bg"), ("muted", "surface"), ("on-primary", "primary"),
             ("primary", "bg"), ("primary", "surface"), ("bg", "text"))


def contrast(fg: str, bg: str) -> float:
    lum = [float(relative_luminance(hex_to_rgb(c))) for c in (fg, bg)]
    return contrast_ratio(lum[0], lum[1])


def e(text: str) -> str:
    return html.escape(text, quote=True)


def tel_href(phone: str) -> str:
    return "tel:" + re.sub(r"\D", "", phone)


def intl_phone(phone: str) -> str:
    """+82-2-1234-5678 for JSON-LD; nationwide numbers (1588-1234) have no international form."""
    return f"+82-{phone[1:]}" if phone.startswith("0") else phone


_DAYS = {"매일": "Mo-Su", "연중무휴": "Mo-Su", "평일": "Mo-Fr", "주말": "Sa-Su", "월~금": "Mo-Fr", "월-금": "Mo-Fr",
         "월~토": "Mo-Sa", "월-토": "Mo-Sa", "토요일": "Sa", "일요일": "Su", "토": "Sa", "일": "Su"}
_HOURS = re.compile(r"^(?P<days>[가-힣~\-]+)?\s*(?P<open>\d{1,2}:\d{2})\s*[-~]\s*(?P<close>\d{1,2}:\d{2})$")


def opening_hours_spec(text: str | None) -> list[str] | None:
    """schema.org openingHours from what owners write ("매일 10:00-22:00", "평일 09:00~18:00, 토 10:00~15:00",
    "24시간"); None when any part is not understood (the page still shows the owner's words)."""
    if not text:
        return None
    if re.fullmatch(r"(연중무휴\s*)?24시간(\s*영업)?", text.strip()):
        return ["Mo-Su 00:00-23:59"]
    specs = []
    for part in re.split(r"\s*[,/]\s*", text.strip()):
        m = _HOURS.match(part)
        if not m:
            return None
        days = _DAYS.get(m.group("days") or "매일")
        if days is None:
            return None
        specs.append(f"{days} {int(m.group('open').split(':')[0]):02d}:{m.group('open').split(':')[1]}-"
                     f"{int(m.group('close').split(':')[0]):02d}:{m.group('close').split(':')[1]}")
    return specs


@dataclass(frozen=True, slots=True)
class SiteInput:
    store: StoreRecord
    concept: Concept
    structure: SiteStructure
    content: PageContent
    images: list[GeneratedImage]
    chrome: HeaderFooter

    def image(self, image_id: str) -> GeneratedImage | None:
        return next((i for i in self.images if i.id == image_id), None)

    @property
    def products(self) -> list[GeneratedImage]:
        return [i for i in self.images if i.id.startswith("product_")]


def stylesheet(palette: PaletteName) -> str:
    colours = PALETTES[palette]
    root = ":root {\n" + "".join(f"  --{k}: {v};\n" for k, v in colours.items()) + "}\n"
    return root + resources.files(__package__).joinpath("site.css").read_text(encoding="utf-8")


def _img(image: GeneratedImage, *, eager: bool = False) -> str:
    loading = "eager" if eager else "lazy"
    return (f'<img src="{e(image.file)}" alt="{e(image.alt)}" width="{image.width}" height="{image.height}" '
            f'loading="{loading}" decoding="async">')


def _call_button(site: SiteInput, label: str, cls: str = "primary") -> str:
    phone = site.store.phone_number
    return (f'<a class="button {cls}" href="{tel_href(phone)}">{e(label)} '
            f'<span class="phone">{e(phone)}</span></a>')


# --- sections -----------------------------------------------------------------------------------------------------


def _hero(site: SiteInput, page: PagePlan) -> str:
    c = site.content
    heading = "h1" if page.slug == "index" else "h2"
    image = site.image("hero")
    picture = f"<div>{_img(image, eager=True)}</div>" if image else ""
    return (f'<section class="hero" aria-labelledby="hero-title"><div class="wrap"><div>'
            f'<{heading} id="hero-title">{e(c.hero_headline)}</{heading}><p class="lead">{e(c.hero_subheadline)}</p>'
            f'<div class="actions">{_call_button(site, c.cta_label)}'
            f'<a class="button secondary" href="contact.html">오시는 길</a></div></div>{picture}</div></section>')


def _section(anchor: str, title: str, inner: str, wrap: str = "wrap") -> str:
    return (f'<section class="block" aria-labelledby="{anchor}"><div class="{wrap}">'
            f'<h2 id="{anchor}">{e(title)}</h2>{inner}</div></section>')


def _cards(title: str, items: list[tuple[str, str]], anchor: str) -> str:
    cards = "".join(f'<li class="card"><h3>{e(t)}</h3><p>{e(x)}</p></li>' for t, x in items)
    return _section(anchor, title, f'<ul class="cards">{cards}</ul>')


def _highlights(site: SiteInput, page: PagePlan) -> str:
    return _cards(f"{site.store.store_name}의 강점", [(h.title, h.text) for h in site.content.highlights],
                  "highlights-title")


def _values(site: SiteInput, page: PagePlan) -> str:
    return _cards("우리의 약속", [(v.title, v.text) for v in site.concept.values], "values-title")


def _services(site: SiteInput, page: PagePlan) -> str:
    noun = profile_for(site.store.store_type).noun
    return _cards(f"{site.store.store_name}의 {noun}", [(s.name, s.description) for s in site.content.services],
                  "services-title")


def _products(site: SiteInput, page: PagePlan) -> str:
    if not site.products:
        return ""
    ads = site.content.product_ads
    figures = []
    for n, image in enumerate(site.products):
        ad = ads[n % len(ads)]
        sub = f"<span>{e(ad.sub_copy)}</span>" if ad.sub_copy else ""
        figures.append(f"<li><figure>{_img(image)}<figcaption>{e(ad.copy_text)}{sub}</figcaption></figure></li>")
    return _section("products-title", "한눈에 보기", f'<ul class="gallery">{"".join(figures)}</ul>')


def _offer(site: SiteInput, page: PagePlan) -> str:
    c = site.content
    return _section("offer-title", c.offer_title, f"<p>{e(c.offer_text)}</p>", wrap="wrap offer")


def _story(site: SiteInput, page: PagePlan) -> str:
    return _section("story-title", "우리 이야기", "".join(f"<p>{e(p)}</p>" for p in site.content.story))


def _audience(site: SiteInput, page: PagePlan) -> str:
    items = "".join(f"<li>{e(a)}</li>" for a in site.content.audience)
    return _section("audience-title", "이런 분께 추천해요", f'<ul class="checks">{items}</ul>')


def _hours_text(store: StoreRecord) -> str:
    return store.opening_hours or "영업시간은 전화로 문의해 주세요."


def _hours(site: SiteInput, page: PagePlan) -> str:
    return _section("hours-title", "영업시간", f"<p>{e(_hours_text(site.store))}</p>")


def _location(site: SiteInput, page: PagePlan) -> str:
    inner = f"<address><p>{e(site.store.location)}</p></address><p>{e(site.content.directions)}</p>"
    return _section("location-title", "오시는 길", inner)


def _contact(site: SiteInput, page: PagePlan) -> str:
    s = site.store
    rows = [f'<dt>전화</dt><dd><a class="phone-big" href="{tel_href(s.phone_number)}">{e(s.phone_number)}</a></dd>']
    if "location" not in page.sections:  # said once per page
        rows.append(f"<dt>주소</dt><dd>{e(s.location)}</dd>")
    if "hours" not in page.sections:
        rows.append(f"<dt>영업시간</dt><dd>{e(_hours_text(s))}</dd>")
    inner = f'<p>{e(site.content.contact_intro)}</p><dl class="info">{"".join(rows)}</dl>'
    return _section("contact-title", "연락처", inner)


def _cta(site: SiteInput, page: PagePlan) -> str:
    c = site.content
    image = site.image("cta")
    picture = f"<div>{_img(image)}</div>" if image else ""
    return (f'<section class="cta" aria-labelledby="cta-title"><div class="wrap"><div>'
            f'<h2 id="cta-title">{e(c.cta_headline)}</h2><p>{e(c.cta_text)}</p>'
            f'<div class="actions">{_call_button(site, "전화하기")}</div></div>{picture}</div></section>')


SECTIONS: dict[SectionKind, Callable[[SiteInput, PagePlan], str]] = {
    "hero": _hero, "highlights": _highlights, "products": _products, "offer": _offer, "story": _story,
    "values": _values, "services": _services, "audience": _audience, "hours": _hours, "location": _location,
    "contact": _contact, "cta": _cta,
}


# --- pages --------------------------------------------------------------------------------------------------------


def _json_ld(site: SiteInput) -> str:
    s = site.store
    data: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "LocalBusiness",
        "name": s.store_name,
        "description": site.content.meta_description,
        "telephone": intl_phone(s.phone_number),
        "address": {"@type": "PostalAddress", "streetAddress": s.location, "addressCountry": "KR"},
    }
    hero = site.image("hero")
    if hero:
        data["image"] = hero.file
    hours = opening_hours_spec(s.opening_hours)
    if hours:
        data["openingHours"] = hours
    text = json.dumps(data, ensure_ascii=False, indent=1)
    # A JSON string may not close the script element it sits in.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/ld+json">\n{text}\n</script>'


def _header(site: SiteInput, current: str) -> str:
    chrome = site.chrome
    labels = {n.slug: n.label for n in chrome.nav}
    items = []
    for plan in site.structure.pages:
        current_attr = ' aria-current="page"' if plan.slug == current else ""
        items.append(f'<li><a href="{plan.slug}.html"{current_attr}>{e(labels[plan.slug])}</a></li>')
    return (f'<a class="skip-link" href="#main">{e(chrome.skip_label)}</a>'
            f'<header class="site-header"><div class="wrap"><a class="brand" href="index.html">{e(chrome.brand)}'
            f'<small>{e(chrome.tagline)}</small></a><nav class="site-nav" aria-label="주 메뉴"><ul>{"".join(items)}'
            "</ul></nav></div></header>")


def _footer(site: SiteInput) -> str:
    s, chrome = site.store, site.chrome
    return (f'<footer class="site-footer"><div class="wrap"><p class="brand-name">{e(chrome.brand)}</p>'
            f"<p>{e(chrome.footer_blurb)}</p><address><p>{e(s.location)}</p>"
            f'<p>전화 <a href="{tel_href(s.phone_number)}">{e(s.phone_number)}</a></p></address>'
            f"<p>영업시간 {e(_hours_text(s))}</p><p>{e(chrome.copyright)}</p></div></footer>")


def _meta(site: SiteInput, plan: PagePlan) -> tuple[str, str]:
    c, brand = site.content, site.chrome.brand
    if plan.slug == "index":
        return c.meta_title, c.meta_description
    return clip(f"{plan.title} | {brand}", 60), clip(f"{josa(brand, '의')} {plan.title}. {c.meta_description}", 160)


def render_page(site: SiteInput, plan: PagePlan) -> RenderedPage:
    title, description = _meta(site, plan)
    hero = site.image("hero")
    og_image = f'<meta property="og:image" content="{e(hero.file)}">' if hero else ""
    body = []
    if plan.slug != "index":
        body.append(f'<div class="page-title"><div class="wrap"><h1>{e(plan.title)}</h1></div></div>')
    rendered = [SECTIONS[kind](site, plan) for kind in plan.sections]
    rendered = [r for r in rendered if r]
    for n, section in enumerate(rendered):  # alternate backgrounds so sections read apart
        body.append(section.replace('<section class="', '<section class="alt ', 1) if n % 2 else section)
    json_ld = _json_ld(site) if plan.slug in ("index", "contact") else ""
    page = f"""<!doctype html>
<html lang="ko">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<meta name="description" content="{e(description)}">
<meta property="og:type" content="website">
<meta property="og:locale" content="ko_KR">
<meta property="og:site_name" content="{e(site.chrome.brand)}">
<meta property="og:title" content="{e(title)}">
<meta property="og:description" content="{e(description)}">
{og_image}
<link rel="stylesheet" href="{CSS_PATH}">
{json_ld}
</head>
<body>
{_header(site, plan.slug)}
<main id="main" tabindex="-1">
{"".join(body)}
</main>
{_footer(site)}
</body>
</html>
"""
    return RenderedPage(filename=f"{plan.slug}.html", title=title, html=page)


def render_pages(site: SiteInput) -> Pages:
    """Node G: the four pages and the stylesheet, as text (written by node H)."""
    return Pages(pages=[render_page(site, plan) for plan in site.structure.pages],
                 stylesheet=stylesheet(site.concept.palette))


# --- H package ------------------------------------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_site(site_dir: Path, pages: Pages) -> Package:
    """Node H: write the pages and the stylesheet beside the images node E copied, and zip the site
    (`<site_dir>.zip`, next to the folder). Idempotent: a resumed run writes the same files again."""
    for page in pages.pages:
        _write(site_dir / page.filename, page.html.encode("utf-8"))
    _write(site_dir / CSS_PATH, pages.stylesheet.encode("utf-8"))
    files = sorted(p for p in site_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    zip_path = site_dir.with_name(f"{site_dir.name}.zip")
    tmp = zip_path.with_name(f".{zip_path.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(path, f"{site_dir.name}/{path.relative_to(site_dir).as_posix()}")
    os.replace(tmp, zip_path)
    images = [p.relative_to(site_dir).as_posix() for p in files if p.parent.name == "images"]
    return Package(
        site_id=site_dir.name,
        output_path=str(site_dir),
        pages=[p.filename for p in pages.pages],
        images=images,
        zip_path=str(zip_path),
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
    )
