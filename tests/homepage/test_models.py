"""Store records and node outputs are checked field by field: bad input is refused with the field named,
never silently fixed; every node's output is a validated model."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from nanococoa_mcp.homepage.korean import clip, josa, slug, split_items
from nanococoa_mcp.homepage.models import MarketingStrategy, SiteStructure, StoreRecord
from nanococoa_mcp.homepage.site import INK_PAIRS, MIN_CONTRAST, PALETTES, contrast, opening_hours_spec

SEED_RECORD: dict[str, Any] = {  # the seed's CustomerData example
    "store_name": "김밥천국 강남점",
    "store_type": "음식점 (분식)",
    "budget": 500,
    "period": 30,
    "advertising_goal": "신규 고객 유치",
    "target_customer": "20-30대 직장인",
    "advertising_media": "네이버 블로그, 인스타그램",
    "store_strength": "24시간 영업, 빠른 조리",
    "location": "서울 강남구 테헤란로",
    "phone_number": "02-1234-5678",
}


def _errors(**changes: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        StoreRecord.model_validate({**SEED_RECORD, **changes})
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in info.value.errors()}


def test_the_seeds_customer_data_is_a_valid_store_record() -> None:
    record = StoreRecord.model_validate(SEED_RECORD)
    assert record.store_name == "김밥천국 강남점" and record.opening_hours is None


@pytest.mark.parametrize(
    "phone", ["02-123-4567", "02-1234-5678", "031-123-4567", "064-1234-5678", "010-1234-5678", "070-1234-5678",
              "0505-123-4567", "1588-1234", "1644-0000"],
)
def test_korean_phone_formats_are_accepted(phone: str) -> None:
    assert StoreRecord.model_validate({**SEED_RECORD, "phone_number": phone}).phone_number == phone


@pytest.mark.parametrize(
    "phone", ["0212345678", "02 1234 5678", "+82-2-1234-5678", "010-12-5678", "099-123-4567", "1234-5678",
              "02-1234-5678 (대표)", "전화 없음", ""],
)
def test_other_phone_numbers_are_refused_naming_the_field_and_the_formats(phone: str) -> None:
    errors = _errors(phone_number=phone)
    assert list(errors) == ["phone_number"]
    assert "010-1234-5678" in errors["phone_number"] and "1588-1234" in errors["phone_number"]


def test_each_bad_field_is_reported_by_name() -> None:
    errors = _errors(store_name="   ", budget=-5, period=0, location="서" * 201, extra_field="x",
                     opening_hours="")
    assert set(errors) == {"store_name", "budget", "period", "location", "extra_field", "opening_hours"}
    assert "at least 1 character" in errors["store_name"]  # blank after stripping
    assert "greater than or equal to 0" in errors["budget"]


def test_a_missing_field_is_named() -> None:
    record = dict(SEED_RECORD)
    del record["target_customer"]
    with pytest.raises(ValidationError) as info:
        StoreRecord.model_validate(record)
    assert [e["loc"] for e in info.value.errors()] == [("target_customer",)]


def test_a_site_structure_has_the_four_pages_in_order_and_starts_with_a_hero() -> None:
    page = {"title": "t", "nav_label": "n", "purpose": "p", "sections": ["story"]}
    pages = [{**page, "slug": s} for s in ("index", "about", "services", "contact")]
    pages[0]["sections"] = ["hero", "cta"]
    assert SiteStructure.model_validate({"pages": pages, "layout": "한 단"}).page("contact").slug == "contact"
    with pytest.raises(ValidationError, match="in this order"):
        SiteStructure.model_validate({"pages": [pages[1], pages[0], *pages[2:]], "layout": "한 단"})
    with pytest.raises(ValidationError, match="hero"):
        SiteStructure.model_validate({"pages": [{**pages[0], "sections": ["story"]}, *pages[1:]], "layout": "x"})
    with pytest.raises(ValidationError, match="twice"):
        SiteStructure.model_validate({"pages": [{**pages[0], "sections": ["hero", "hero"]}, *pages[1:]],
                                      "layout": "x"})


def test_marketing_budget_shares_must_add_up_to_100() -> None:
    base = {"target_audience": "직장인", "personas": ["a"], "messaging": ["a", "b"], "campaign": "c",
            "budget_plan": "p", "kpis": ["a", "b"]}
    ok = [{"name": "블로그", "action": "글", "budget_share": 60},
          {"name": "인스타그램", "action": "사진", "budget_share": 40}]
    assert MarketingStrategy.model_validate({**base, "channels": ok}).channels[1].budget_share == 40
    with pytest.raises(ValidationError, match="add up to 90"):
        MarketingStrategy.model_validate({**base, "channels": [{**ok[0], "budget_share": 50}, ok[1]]})


@pytest.mark.parametrize("name", sorted(PALETTES))
def test_every_palette_keeps_its_inks_readable(name: str) -> None:
    colours = PALETTES[name]  # type: ignore[index]
    for fg, bg in INK_PAIRS:
        assert contrast(colours[fg], colours[bg]) >= MIN_CONTRAST, (name, fg, bg)


def test_particles_agree_with_the_word_before_them() -> None:
    words = [("떡집", "는"), ("카페", "은"), ("서울", "으로"), ("강남역", "으로"), ("부산", "으로")]
    assert [josa(w, p) for w, p in words] == ["떡집은", "카페는", "서울로", "강남역으로", "부산으로"]
    assert josa("02-1234-5678", "으로") == "02-1234-5678로" and josa("010-1234-5670", "으로") == "010-1234-5670으로"
    assert josa("'김밥천국'", "을") == "'김밥천국'을" and josa("Cafe", "이") == "Cafe이(가)"


def test_lists_split_the_way_owners_write_them_and_text_clips_at_a_word() -> None:
    assert split_items("24시간 영업, 빠른 조리 및 포장 / 주차 가능·배달") == [
        "24시간 영업", "빠른 조리", "포장", "주차 가능", "배달"]
    assert clip("오늘 만든 떡을 내일 아침까지 드세요", 10) == "오늘 만든 떡을"
    assert slug("김밥천국 강남점!/../") == "김밥천국_강남점" and slug("***") == "store"


@pytest.mark.parametrize(
    ("text", "spec"),
    [("매일 10:00-22:00", ["Mo-Su 10:00-22:00"]), ("평일 9:00~18:00, 토 10:00~15:00", ["Mo-Fr 09:00-18:00",
                                                                                  "Sa 10:00-15:00"]),
     ("24시간", ["Mo-Su 00:00-23:59"]), ("점심시간 빼고 대충 10시부터", None), (None, None)],
)
def test_opening_hours_become_schema_org_only_when_understood(text: str | None, spec: list[str] | None) -> None:
    assert opening_hours_spec(text) == spec
