"""Small Korean text tools the writers share: particles that agree with the word before them, lists
split the way shop owners write them, text clipped at a word boundary, and path-safe store slugs."""

from __future__ import annotations

import re
import unicodedata

_PAIRS = {"은": ("은", "는"), "는": ("은", "는"), "이": ("이", "가"), "가": ("이", "가"), "을": ("을", "를"),
          "를": ("을", "를"), "과": ("과", "와"), "와": ("과", "와"), "아": ("아", "야"), "야": ("아", "야")}
# A digit's final consonant read aloud (영 일 이 삼 사 오 육 칠 팔 구): ㅇ=21, ㄹ=8, ㅁ=16, ㄱ=1, none=0.
_DIGIT_FINALS = {"0": 21, "1": 8, "2": 0, "3": 16, "4": 0, "5": 0, "6": 1, "7": 8, "8": 8, "9": 0}
_SPLIT = re.compile(r"\s*(?:,|·|/|、|;|\n|\s및\s|\s그리고\s)\s*")
_SLUG_DROP = re.compile(r"[^\w가-힣]+")


def _final_consonant(word: str) -> int | None:
    """The last syllable's final consonant index (0 = none); None when the word does not end in Hangul."""
    for ch in reversed(word.strip()):
        if "가" <= ch <= "힣":
            return (ord(ch) - 0xAC00) % 28
        if ch in _DIGIT_FINALS:
            return _DIGIT_FINALS[ch]
        if ch.isalpha():
            return None
        # skip closing brackets, quotes and the like
    return None


def josa(word: str, particle: str) -> str:
    """`word` followed by the particle form that agrees with it: josa("떡집", "는") → "떡집은"."""
    with_batchim, without = _PAIRS[particle] if particle in _PAIRS else (particle, particle)
    if particle in ("으로", "로"):
        final = _final_consonant(word)
        return word + ("로" if final in (0, 8, None) else "으로")  # ㄹ takes 로
    final = _final_consonant(word)
    if final is None:
        return f"{word}{with_batchim}({without})" if with_batchim != without else word + without
    return word + (with_batchim if final else without)


def split_items(text: str) -> list[str]:
    """"24시간 영업, 빠른 조리 및 포장" → ["24시간 영업", "빠른 조리", "포장"] (order kept, duplicates dropped)."""
    out: list[str] = []
    for part in _SPLIT.split(text):
        part = part.strip(" .")
        if part and part not in out:
            out.append(part)
    return out


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at a word boundary when there is one."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space >= limit // 2 else cut).rstrip(" ,·")


def slug(name: str, limit: int = 40) -> str:
    """A folder-safe form of a store name, Hangul kept: "김밥천국 강남점!" → "김밥천국_강남점"."""
    text = unicodedata.normalize("NFC", name)
    text = _SLUG_DROP.sub("_", text).strip("_")
    return text[:limit].strip("_") or "store"
