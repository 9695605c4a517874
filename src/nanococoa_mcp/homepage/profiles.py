"""Kinds of shop the built-in writer knows (food, café, market, beauty, …): the words, palette and ad styles
that suit each, recognised from the store type the owner wrote."""

from __future__ import annotations

from dataclasses import dataclass

from nanococoa_mcp.homepage.models import PaletteName


@dataclass(frozen=True, slots=True)
class Profile:
    key: str
    keywords: tuple[str, ...]
    noun: str  # what the shop offers: 메뉴, 상품, 서비스, 수업
    place: str  # what the shop is called in a sentence: 가게, 매장, 센터, 학원
    mood: str  # the designer's word for the look
    tone: str
    palette: PaletteName
    scene_style: str  # list_styles ids
    text_style: str
    invite: str  # the call to action on the last ad, ≤ 20 characters


GENERAL = Profile(
    "general", (), "서비스", "가게", "깔끔하고 믿음직한", "친절하고 믿음직한", "calm", "minimal", "bold_clean",
    "지금 바로 문의하세요",
)
PROFILES: tuple[Profile, ...] = (
    Profile("cafe", ("카페", "커피", "디저트", "찻집", "브런치", "베이커리", "빵", "제과"), "메뉴", "카페",
            "따뜻하고 아늑한", "따뜻하고 여유로운", "warm", "cafe", "handwritten", "오늘, 한 잔 어때요"),
    Profile("rice_cake", ("떡", "한과", "전통 과자"), "상품", "가게", "정갈하고 포근한", "정갈하고 다정한",
            "elegant", "pastel", "soft_round", "오늘 만든 떡 만나요"),
    Profile("market", ("건어물", "수산", "생선", "정육", "과일", "청과", "채소", "반찬", "시장", "식자재"),
            "상품", "가게", "활기차고 푸근한", "시원시원하고 푸근한", "bold", "traditional_market", "gold_balloon",
            "지금 바로 들러 보세요"),
    Profile("food", ("음식", "식당", "분식", "한식", "중식", "일식", "양식", "고기", "치킨", "피자", "국밥", "김밥",
                     "주점", "포차", "술집", "국수", "도시락", "레스토랑"),
            "메뉴", "식당", "따뜻하고 든든한", "따뜻하고 친근한", "warm", "traditional_market", "bold_clean",
            "지금 바로 방문하세요"),
    Profile("beauty", ("미용", "헤어", "네일", "피부", "뷰티", "화장품", "속눈썹", "왁싱", "에스테틱"), "시술",
            "숍", "우아하고 세련된", "섬세하고 세련된", "elegant", "luxury", "elegant_serif", "지금 예약하세요"),
    Profile("flower", ("꽃", "플라워", "화원", "식물", "가드닝"), "상품", "꽃집", "싱그럽고 다정한",
            "다정하고 싱그러운", "fresh", "spring", "handwritten", "마음을 꽃으로 전하세요"),
    Profile("fitness", ("헬스", "필라테스", "요가", "운동", "피트니스", "체육관", "복싱", "태권도", "수영"), "수업",
            "센터", "힘 있고 산뜻한", "활기차고 믿음직한", "bold", "minimal", "bold_clean", "오늘부터 시작하세요"),
    Profile("education", ("학원", "교습", "공부방", "과외", "레슨", "교실", "아카데미"), "수업", "학원",
            "차분하고 믿음직한", "차분하고 믿음직한", "calm", "minimal", "soft_round", "상담 전화 주세요"),
    Profile("fashion", ("옷", "의류", "패션", "잡화", "신발", "가방", "안경", "액세서리"), "상품", "매장",
            "깔끔하고 감각적인", "감각적이고 친근한", "natural", "minimal", "bold_clean", "지금 매장에서 만나요"),
    Profile("service", ("세탁", "수선", "수리", "청소", "인테리어", "부동산", "사진", "이사", "정비", "카센터"),
            "서비스", "가게", "깔끔하고 믿음직한", "정직하고 믿음직한", "calm", "minimal", "bold_clean",
            "지금 바로 문의하세요"),
)


def profile_for(store_type: str) -> Profile:
    """The first profile whose keyword appears in the store type (order matters: 떡 before 음식), else GENERAL."""
    text = store_type.lower()
    for profile in PROFILES:
        if any(k in text for k in profile.keywords):
            return profile
    return GENERAL
