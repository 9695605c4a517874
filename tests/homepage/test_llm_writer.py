"""The LLM writer against a real OpenAI-compatible server on loopback: each node asked by its own prompt file
with a strict JSON schema, the answers validated and used, and the built-in writer standing in per node,
with the reason, when an answer is not JSON, breaks the schema, or the endpoint is down."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nanococoa_mcp.app import service_running
from nanococoa_mcp.homepage.llm_writer import LlmWriter, strict_schema
from nanococoa_mcp.homepage.models import PageContent, SiteStructure
from nanococoa_mcp.homepage.writer import BuiltinWriter
from nanococoa_mcp.settings import Settings
from nanococoa_mcp.tools import list_jobs
from tests.conftest import SAMPLES
from tests.homepage.conftest import STORE, run_site
from tests.llm_server import LoopbackLLM

MODEL = "test-model"
HEADLINE = "출근길 든든한 한 끼, 김밥천국"

ANSWERS: dict[str, Any] = {
    "homepage_synthesis": {
        "direction": "바쁜 직장인이 언제든 들르는 24시간 분식집으로 알린다",
        "key_message": "언제 와도 따뜻한 한 끼",
        "tone": "친근하고 활기찬",
        "design_direction": "초록 포인트의 깔끔한 카드형 배치, 큰 전화 버튼",
        "priorities": ["24시간 영업 강조", "전화 연결을 첫 화면에", "블로그·인스타그램과 같은 메시지"],
    },
    "homepage_concept": {
        "concept": "언제 와도 따뜻한 테헤란로 분식",
        "brand_identity": "김밥천국 강남점은 밤낮없이 일하는 직장인의 든든한 식탁입니다.",
        "values": [
            {"title": "24시간", "text": "새벽에도 문을 엽니다."},
            {"title": "빠른 조리", "text": "주문 후 바로 만듭니다."},
        ],
        "tone": "친근하고 활기찬",
        "keywords": ["분식", "24시간", "테헤란로"],
        "palette": "fresh",
    },
    "homepage_structure": {
        "pages": [
            {"slug": "index", "title": "홈", "nav_label": "홈", "purpose": "첫인상",
             "sections": ["hero", "highlights", "products", "cta"]},
            {"slug": "about", "title": "우리 이야기", "nav_label": "이야기", "purpose": "소개",
             "sections": ["story", "values"]},
            {"slug": "services", "title": "메뉴와 서비스", "nav_label": "메뉴", "purpose": "메뉴",
             "sections": ["services", "audience"]},
            {"slug": "contact", "title": "찾아오는 길", "nav_label": "연락처", "purpose": "연락",
             "sections": ["contact", "hours", "location"]},
        ],
        "layout": "모바일 우선 카드형 배치",
    },
    "homepage_content": {
        "hero_headline": HEADLINE,
        "hero_subheadline": "24시간 문을 여는 테헤란로의 분식집입니다.",
        "cta_label": "지금 전화하기",
        "highlights": [{"title": "24시간 영업", "text": "새벽 퇴근길에도 들르세요."},
                       {"title": "빠른 조리", "text": "바쁜 점심에도 금방 나옵니다."}],
        "story": ["테헤란로의 불 꺼지지 않는 분식집, 김밥천국 강남점입니다."],
        "services": [{"name": "매장 식사", "description": "편하게 앉아 드실 수 있습니다."},
                     {"name": "전화 문의", "description": "02-1234-5678로 문의해 주세요."}],
        "audience": ["야근하는 직장인", "아침을 거른 직장인"],
        "offer_title": "처음 오시는 분 환영합니다",
        "offer_text": "홈페이지를 보고 오셨다면 말씀해 주세요.",
        "cta_headline": "오늘도 문 열었습니다",
        "cta_text": "서울 강남구 테헤란로에서 기다립니다.",
        "contact_intro": "전화 한 통이면 안내해 드립니다.",
        "directions": "테헤란로 대로변에 있습니다.",
        "hero_ad": {"copy_text": "언제나 따뜻한 한 끼", "sub_copy": "24시간 영업"},
        "product_ads": [{"copy_text": "빠른 조리", "sub_copy": "김밥천국 강남점"}],
        "cta_ad": {"copy_text": "지금 들르세요", "sub_copy": "02-1234-5678"},
        "meta_title": "김밥천국 강남점 | 24시간 테헤란로 분식",
        "meta_description": "서울 강남구 테헤란로의 24시간 분식집 김밥천국 강남점. 전화 02-1234-5678.",
    },
    "homepage_header_footer": {
        "brand": "김밥천국 강남점",
        "tagline": "언제 와도 따뜻한 한 끼",
        "nav": [{"slug": "index", "label": "홈"}, {"slug": "about", "label": "이야기"},
                {"slug": "services", "label": "메뉴"}, {"slug": "contact", "label": "연락처"}],
        "skip_label": "본문으로 건너뛰기",
        "footer_blurb": "테헤란로 24시간 분식집",
        "copyright": "© 김밥천국 강남점",
    },
}
SAYS = {"manager": "오늘은 홈페이지 방향을 정합시다.", "marketer": "직장인에게 24시간 영업을 알립시다.",
        "designer": "초록색 포인트로 깔끔하게 가겠습니다."}


class FakeLLM(LoopbackLLM):
    """The loopback endpoint answering each node from ANSWERS by the schema's name; `broken` maps a schema name
    to the raw text answered instead (not JSON, or JSON that breaks the schema)."""

    def __init__(self, broken: dict[str, str]) -> None:
        self.broken = broken
        super().__init__(self.reply)

    def reply(self, body: dict[str, Any]) -> str:
        name = body["response_format"]["json_schema"]["name"]
        if name in self.broken:
            return self.broken[name]
        if name == "homepage_brainstorm":
            role = re.search(r"You are the (\w+)\.", body["messages"][-1]["content"]).group(1)  # type: ignore[union-attr]
            return json.dumps({"message": SAYS[role]}, ensure_ascii=False)
        return "```json\n" + json.dumps(ANSWERS[name], ensure_ascii=False) + "\n```"  # fenced, as models do


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    server = FakeLLM({"homepage_marketing": "{'target_audience': 직장인,"})  # one node answers broken JSON
    yield server
    server.close()


def _llm_settings(data_dir: Path, base_url: str) -> Settings:
    return Settings(data_dir=data_dir).model_copy(
        update={"llm_base_url": base_url, "llm_api_key": None, "llm_model": MODEL, "llm_timeout_sec": 10.0}
    )


def _closed(schema: Any) -> bool:
    """Every object in the schema closed and fully required, as strict structured output wants."""
    if isinstance(schema, list):
        return all(_closed(x) for x in schema)
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" and "properties" in schema:
        if schema.get("additionalProperties") is not False or set(schema["required"]) != set(schema["properties"]):
            return False
    return all(_closed(v) for k, v in schema.items() if k not in ("required", "enum"))


def test_node_schemas_are_strict_and_keep_their_limits_as_words() -> None:
    schema = strict_schema(PageContent)
    assert _closed(schema)
    assert "maxLength" not in json.dumps(schema)
    assert "At most 40 characters." in schema["properties"]["hero_headline"]["description"]
    assert schema["$defs"]["Feature"]["properties"]["title"]["type"] == "string"  # a field named title survives


async def test_a_whole_run_with_an_llm_uses_its_answers_and_falls_back_per_node(
    data_dir: Path, fake_llm: FakeLLM
) -> None:
    settings = _llm_settings(data_dir, fake_llm.base_url)
    async with service_running(settings):
        result = await run_site("job-llm", STORE, [SAMPLES / "dango.png"], settings)
        ads = (await list_jobs(limit=50)).jobs
    notes = {n.node: n for n in result.notes}
    assert result.writer == "llm" and result.generated_images == 3
    assert notes["marketing"].writer == "builtin" and "not JSON" in (notes["marketing"].reason or "")
    assert all(n.writer == "llm" and n.reason is None for name, n in notes.items() if name != "marketing")
    # 2 rounds × 3 speakers + the manager's synthesis, then concept, marketing, structure, content, header/footer
    names = [r["response_format"]["json_schema"]["name"] for r in fake_llm.requests]
    assert names == ["homepage_brainstorm"] * 6 + ["homepage_synthesis", "homepage_concept", "homepage_marketing",
                                                   "homepage_structure", "homepage_content", "homepage_header_footer"]
    for r in fake_llm.requests:
        assert r["model"] == MODEL and r["response_format"]["json_schema"]["strict"] is True
        assert _closed(r["response_format"]["json_schema"]["schema"]) and "{{" not in r["messages"][-1]["content"]
    transcript = fake_llm.requests[5]["messages"][-1]["content"]  # the designer of round 2 hears everyone before
    assert "[round 2] marketer: 직장인에게 24시간 영업을 알립시다." in transcript
    assert "홈페이지 방향을 정합시다" in fake_llm.requests[6]["messages"][-1]["content"]  # the synthesis reads it all
    folder = Path(result.output_path)
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert HEADLINE in index and "본문으로 건너뛰기" in index and ">이야기</a>" in index
    assert "--primary: #1D6B40;" in (folder / "css" / "style.css").read_text(encoding="utf-8")  # the fresh palette
    assert "<h1>찾아오는 길</h1>" in (folder / "contact.html").read_text(encoding="utf-8")
    # the ads carry the LLM's copy
    assert sorted(j.text_content for j in ads) == ["빠른 조리", "언제나 따뜻한 한 끼", "지금 들르세요"]


async def test_an_answer_that_breaks_the_schema_is_replaced_with_the_reason() -> None:
    pages = ANSWERS["homepage_structure"]["pages"]
    server = FakeLLM({"homepage_structure": json.dumps({"pages": pages[:3], "layout": "세 페이지"})})
    try:
        writer = LlmWriter(_llm_settings(Path("unused"), server.base_url))
        builtin = BuiltinWriter()
        concept = (await builtin.concept(STORE, (await builtin.brainstorm(STORE)).output)).output
        marketing = (await builtin.marketing(STORE, (await builtin.brainstorm(STORE)).output, concept)).output
        made = await writer.structure(STORE, concept, marketing)
    finally:
        server.close()
    assert made.note.writer == "builtin" and "does not match the schema" in (made.note.reason or "")
    assert isinstance(made.output, SiteStructure) and [p.slug for p in made.output.pages] == [
        "index", "about", "services", "contact"]


async def test_an_endpoint_that_is_down_leaves_every_node_to_the_builtin_writer() -> None:
    server = FakeLLM({})
    base_url = server.base_url
    server.close()  # nothing listens there any more
    writer = LlmWriter(_llm_settings(Path("unused"), base_url).model_copy(update={"llm_timeout_sec": 2.0}))
    made = await writer.brainstorm(STORE)
    assert made.note.writer == "builtin" and "endpoint failed" in (made.note.reason or "")
    assert made.output.synthesis.key_message == "24시간 영업 분식, 김밥천국 강남점"
