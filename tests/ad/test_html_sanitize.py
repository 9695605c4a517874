"""The sanitiser for the HTML/CSS an LLM writes: hostile markup and CSS come out inert, good styling is
kept as written, style sheets are inlined, and the value readers see what the browser would."""

from __future__ import annotations

import re

import pytest

from nanococoa_mcp.ad.html_sanitize import (
    colors_in,
    em_value,
    font_px,
    lengths_to_em,
    parse_color,
    px_value,
    sanitize,
    sanitize_html,
)

NASTY = [
    "<script>alert(1)</script><div>ok</div>",
    "<SCRIPT SRC=http://evil.example/x.js></SCRIPT><div>ok</div>",
    '<div onclick="alert(1)" onmouseover=alert(2)>ok</div>',
    "<img src=x onerror=alert(1)><div>ok</div>",
    '<div style="background:url(http://evil.example/a.png)">ok</div>',
    "<div style=\"background: URL( 'http://evil.example/a.png' )\">ok</div>",
    '<div style="background:\\75rl(http://evil.example/a.png)">ok</div>',
    '<div style="background:&#x75;rl(http://evil.example/a.png)">ok</div>',
    '<div style="width: expression(alert(1)); color: red">ok</div>',
    '<div style="behavior: url(x.htc); -moz-binding: url(x.xml#xss)">ok</div>',
    '<div style="color: ｕｒｌ(http://evil.example)">ok</div>',
    "<div style=\"background-image: image-set('http://evil.example/a.png' 1x)\">ok</div>",
    '<div style="color: var(--x); background: attr(data-x)">ok</div>',
    "<style>@import url(http://evil.example/x.css);</style><div>ok</div>",
    '<style>@import "http://evil.example/x.css"; div{color:red}</style><div>ok</div>',
    "<style>.a{background:url(http://evil.example/a.png)} .a::after{content:url(http://evil.example/b.png)}</style>"
    '<div class="a">ok</div>',
    "<style>@font-face{font-family:x;src:url(http://evil.example/f.woff)}</style><div>ok</div>",
    '<a href="javascript:alert(1)">ok</a>',
    '<div style="color:red" style="background:url(http://evil.example)">ok</div>',
    '<iframe src="http://evil.example"></iframe><div>ok</div>',
    "<svg onload=alert(1)><script>alert(1)</script></svg><div>ok</div>",
    "<math><mtext><img src=x onerror=alert(1)></mtext></math><div>ok</div>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<link rel=stylesheet href=http://evil.example/x.css><meta http-equiv=refresh content="0;url=http://evil.example">'
    "<div>ok</div>",
    '<object data="http://evil.example/x.swf"></object><embed src="http://evil.example/y"><div>ok</div>',
    '<form action="http://evil.example"><input name=x><button>go</button></form><div>ok</div>',
    "<!-- <script>alert(1)</script> --><div>ok</div>",
    '<div style="color:red /* */ ; background: url/**/(http://evil.example)">ok</div>',
    "<scr<script>ipt>alert(1)</script><div>ok</div>",
    "<div><span><b>ok",
    '<base href="http://evil.example/"><div>ok</div>',
    "<div style=\"font-family: 'x'; src: url(http://evil.example)\">ok</div>",
    # CSS escapes: decoded by the tokenizer, then judged
    '<div style="background: \\75 rl(http://evil.example/a.png); color: red">ok</div>',
    '<div style="background-image: ur\\l(http://evil.example/a.png)">ok</div>',
    '<div style="color: exp\\ression(alert(1))">ok</div>',
    '<div style="b\\61 ckground: \\75 rl(http://evil.example/a.png)">ok</div>',
    '<div style="-moz-b\\69 nding: url(x.xml#xss); beh\\61vior: url(x.htc)">ok</div>',
    "<style>.a{background:\\75 rl(http://evil.example/a.png)}</style><div class=a>ok</div>",
    # comments inside url( and between tokens
    '<div style="background: url(/**/http://evil.example/a.png)">ok</div>',
    "<div style=\"background: url(/*x*/'http://evil.example/a.png')\">ok</div>",
    '<div style="background: u/**/rl(http://evil.example/a.png)">ok</div>',
    '<div style="color: exp/**/ression(alert(1))">ok</div>',
    # @import in a style attribute and in a style sheet, however spelled
    '<div style="@import url(http://evil.example/x.css); color: red">ok</div>',
    "<style>@IMPORT 'http://evil.example/x.css';</style><div>ok</div>",
    "<style>@\\69mport url(http://evil.example/x.css); .a{color:red}</style><div class=a>ok</div>",
    "<style>/**/@import/**/url(http://evil.example/x.css);</style><div>ok</div>",
    # expression(), -moz-binding, behavior on allowed properties
    '<div style="color: expression(alert(1)); background: expression(alert(2))">ok</div>',
    '<div style="color: red; -moz-binding: url(http://evil.example/x.xml#xss)">ok</div>',
    '<div style="behavior: url(http://evil.example/x.htc); color: red">ok</div>',
    # unicode-range tricks
    '<div style="unicode-range: U+0-7F; color: U+26">ok</div>',
    "<style>@font-face{font-family:x;src:local(x),url(http://evil.example/f.woff);unicode-range:U+0-10FFFF}"
    ".a{font-family:x}</style><div class=a>ok</div>",
    '<div style="background: linear-gradient(U+0-7F, red)">ok</div>',
    # javascript: and data: URLs, with entities and whitespace
    '<a href="jav&#x61;script:alert(1)">ok</a>',
    '<a href=" &#14; javascript:alert(1)">ok</a>',
    '<a href="java\tscript:alert(1)">ok</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">ok</a>',
    "<div style=\"background: url(' java&#x09;script:alert(1)')\">ok</div>",
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+"><div>ok</div>',
    '<div style="background-image: url(data:image/png;base64,AAAA)">ok</div>',
    '<object data="data:text/html,<script>alert(1)</script>"></object><div>ok</div>',
    # <svg>, <math> and namespace confusion
    "<svg><script>alert(1)</script></svg><div>ok</div>",
    "<svg><style>@import url(http://evil.example/x.css);</style><a xlink:href=javascript:alert(1)>x</a></svg>"
    "<div>ok</div>",
    "<math><mi xlink:href=javascript:alert(1)>x</mi></math><div>ok</div>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>"
    "<div>ok</div>",
    '<svg></p><style><a id="</style><img src=x onerror=alert(1)>"></svg><div>ok</div>',
    # event handlers, however written
    "<div OnClIcK=alert(1) onpointerenter='alert(2)' onfocus=alert(3) autofocus tabindex=1>ok</div>",
    "<body onload=alert(1)><div>ok</div></body>",
    '<p onanimationstart="alert(1)" style="animation: x 1s">ok</p>',
    # srcdoc, <base>, <meta http-equiv=refresh>, <link>
    '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe><div>ok</div>',
    '<div srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;">ok</div>',
    '<base href="javascript:alert(1)//"><a href="x">ok</a>',
    '<meta http-equiv="refresh" content="0; url=javascript:alert(1)"><div>ok</div>',
    '<link rel="import" href="http://evil.example/x.html"><link rel=preload as=script href=//evil.example/x.js>'
    "<div>ok</div>",
    # nested and unterminated tags and comments
    "<div>ok<!-- <script>alert(1)</script>",
    "<!--><script>alert(1)</script>--><div>ok</div>",
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    "<div><div><div><script>alert(1)",
    "<<script>script>alert(1)<</script>/script><div>ok</div>",
    "<style>.a{color:red</style><div class=a>ok</div>",
    '<div style="color: red; background: url(http://evil.example/a.png">ok</div>',
    "<p>ok<p>two<div>three<span>four",
    "<title><img src=x onerror=alert(1)></title><div>ok</div>",
    "<textarea><img src=x onerror=alert(1)></textarea><div>ok</div>",
    "<template><img src=x onerror=alert(1)></template><div>ok</div>",
    "<xmp><img src=x onerror=alert(1)></xmp><div>ok</div>",
    "<div><![CDATA[<img src=x onerror=alert(1)>]]>ok</div>",
    "<?xml-stylesheet href='http://evil.example/x.xsl'?><div>ok</div>",
]


@pytest.mark.parametrize("source", NASTY)
def test_sanitiser_output_is_inert(source: str) -> None:
    out = sanitize_html(source).lower()
    for bad in ("<script", "<img", "<iframe", "<svg", "<math", "<style", "<link", "<meta", "<base", "<object",
                "<embed", "<form", "<input", "<a ", "<title", "<template", " on", "src", "href", "url(", "http",
                "javascript", "data:", "expression", "@import", "behavior", "binding", "var(", "attr(", "image-set",
                "u+", "\\", "/*", "<!--"):  # fmt: skip
        assert bad not in out, (bad, out)
    assert re.fullmatch(
        r"(<(div|span|p|br|strong|em|b|i|small|sup|sub)( (class|style)=\"[^\"<>]*\")*>|</\w+>|[^<>]+)*", out
    )


def test_what_was_removed_is_named() -> None:
    clean = sanitize(
        '<style>@import url(http://evil.example/x.css); .a::after{content:"x"}</style>'
        '<div onclick="alert(1)" style="color: red; background: url(http://evil.example/a.png); position: fixed">'
        "ok<script>alert(1)</script><img src=x></div><!-- note -->"
    )
    assert clean.html() == '<div style="color: red">ok</div>'
    for note in ("<style>", "<script>", "<img>", "onclick=", "src=", "<!-- comment -->", "property 'position'",
                 "background: url(http://evil.example/a.png)", "@import url(http://evil.example/x.css)",
                 "selector '.a::after'"):  # fmt: skip
        assert note in clean.removed, (note, clean.removed)


def test_sanitiser_keeps_legit_styling() -> None:
    source = (
        '<div class="wrap card" style="background: linear-gradient(180deg, #FFF4B8 0%, rgba(255,201,40,0.9) 100%);'
        ' padding: 12px 24px; border-radius: 16px; box-shadow: 0 4px 12px rgba(0,0,0,.3); transform: rotate(-4deg)">'
        "<h1 style=\"font-family: 'BM JUA_TTF', Papyrus, sans-serif; color: #5B2A00; font-size: 64px;"
        " font-weight: 700; -webkit-text-stroke: 3px #fff; text-shadow: 0 2px 0 #3A1A00; letter-spacing: -0.02em;"
        ' text-align: center !important">건어물 <strong>대박</strong> 세일</h1><br/><small>오늘만</small></div>'
    )
    clean = sanitize(source)
    wrap = clean.root.children[0]
    assert not isinstance(wrap, str)
    assert wrap.classes == ("wrap", "card")
    assert wrap.style["background"] == "linear-gradient(180deg, #FFF4B8 0%, rgba(255,201,40,0.9) 100%)"
    assert wrap.style["box-shadow"] == "0 4px 12px rgba(0,0,0,.3)"
    assert wrap.style["transform"] == "rotate(-4deg)" and wrap.style["border-radius"] == "16px"
    head = wrap.children[0]
    assert not isinstance(head, str) and head.tag == "div" and head.source_tag == "h1"
    assert head.style == {
        "font-family": '"BM JUA_TTF", sans-serif',
        "color": "#5B2A00",
        "font-size": "64px",
        "font-weight": "700",
        "-webkit-text-stroke": "3px #fff",
        "text-shadow": "0 2px 0 #3A1A00",
        "letter-spacing": "-0.02em",
        "text-align": "center",
    }
    assert "<strong>대박</strong>" in clean.html() and "<br><small>오늘만</small>" in clean.html()
    assert clean.root.text() == "건어물 대박 세일\n오늘만"


def test_css_escapes_and_comments_are_decoded_and_written_back_plainly() -> None:
    clean = sanitize('<p style="c\\6flor: r\\65 d; margin: 1px/**/2px; padding: 0 /* inner */ 4px">x</p>')
    para = clean.root.children[0]
    assert not isinstance(para, str)
    assert para.style == {"color": "red", "margin": "1px 2px", "padding": "0 4px"}
    assert "\\" not in clean.html() and "/*" not in clean.html()


def test_an_at_rule_in_a_style_attribute_is_dropped_and_the_declarations_after_it_kept() -> None:
    clean = sanitize('<p style="@import url(http://evil.example/x.css); color: #123456">x</p>')
    assert clean.html() == '<p style="color: #123456">x</p>'
    assert "@import url(http://evil.example/x.css)" in clean.removed


def test_style_sheet_rules_with_simple_selectors_are_inlined_by_specificity() -> None:
    source = (
        "<style>/* theme */ h1 { color: blue; font-size: 60px } .title { color: #C00 } h1.title { letter-spacing: 1px }"
        " div > p { color: green } #x { color: pink } .title:hover { color: black } @media (max-width: 1px) {"
        " .title { color: white } } .title { .nested { color: gray } }</style>"
        '<h1 class="title" style="font-size: 72px">세일</h1><p>sub</p>'
    )
    clean = sanitize(source)
    head, para = clean.root.children[0], clean.root.children[1]
    assert not isinstance(head, str) and not isinstance(para, str)
    assert head.style == {"color": "#C00", "letter-spacing": "1px", "font-size": "72px"}
    assert para.style == {}
    assert "<style" not in clean.html()


def test_each_style_element_is_read_on_its_own() -> None:
    clean = sanitize("<style>.a { color: red</style><style>.b { color: #00F }</style><p class=b>x</p>")
    assert clean.html() == '<p class="b" style="color: #00F">x</p>'


def test_unclosed_and_misnested_tags_are_closed_as_a_browser_would_and_deep_nesting_is_flattened() -> None:
    assert sanitize_html("<div><b>굵게<i>기울임</b> 끝") == "<div><b>굵게<i>기울임</i></b><i> 끝</i></div>"
    deep = "<div>" * 200 + "깊다" + "</div>" * 200
    out = sanitize_html(deep)
    assert out.count("<div>") == 24 and "깊다" in out


def test_text_is_escaped_and_entities_stay_text() -> None:
    out = sanitize_html("<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; 1+1 특가</p>")
    assert out == "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; 1+1 특가</p>"


def test_css_colours_parse_with_alpha() -> None:
    assert parse_color("#1a1a1a") == ((26, 26, 26), 1.0)
    assert parse_color("rgba(255, 255, 255, 0.5)") == ((255, 255, 255), 0.5)
    assert parse_color("rgb(0 128 255 / 25%)") == ((0, 128, 255), 0.25)
    assert parse_color("#11223380") == ((17, 34, 51), 128 / 255)
    assert parse_color("gold") == ((255, 215, 0), 1.0)
    assert parse_color("transparent") is None and parse_color("nonsense") is None and parse_color("rgb(1, 2)") is None


def test_colours_in_a_value_are_found_in_order_inside_gradients() -> None:
    value = "linear-gradient(90deg, rgba(255,255,255,0.2), #000 50%, white)"
    assert colors_in(value) == [((255, 255, 255), 0.2), ((0, 0, 0), 1.0), ((255, 255, 255), 1.0)]
    assert colors_in("2px solid #C0392B") == [((192, 57, 43), 1.0)]


def test_lengths_become_em_of_the_font_and_sizes_read_as_px() -> None:
    assert lengths_to_em("0 4px 12px rgba(0,0,0,.3)", 16) == "0 0.25em 0.75em rgba(0,0,0,.3)"
    assert lengths_to_em("1rem 12pt 0.5em", 16) == "1em 1em 0.5em"
    assert font_px("1.5em", 20) == 30 and font_px("150%", 20) == 30 and font_px("1rem", 0) == 16
    assert font_px("large", 16) is None
    assert em_value("0.2em") == 0.2 and em_value("3") == 3 and em_value("3px") is None
    assert px_value("12px") == 12 and px_value("12em") is None
