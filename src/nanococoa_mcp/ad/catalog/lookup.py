"""One way to find a catalogue entry (scene style, text style, size) by any name it answers to.

Names are compared folded: Unicode NFKC (full-width letters and digits become ASCII), case-folded,
and without spaces, underscores, hyphens and dashes, slashes, dots, commas and middle dots (·, ㆍ, ・),
so "골드·풍선", "골드 풍선" and "GOLD_BALLOON"-style spellings of one name all meet.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Generic, TypeVar

from nanococoa_mcp.errors import InvalidInput

T = TypeVar("T")

# ㆍ (U+318D) is how Korean keyboards type a middle dot; NFKC turns it into U+119E.
SEPARATORS = frozenset("_-/.,·ㆍ\u119e・•‧∙‐‑‒–—―−")


def fold(name: str) -> str:
    """The form every name is compared in."""
    text = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in text if not ch.isspace() and ch not in SEPARATORS)


class NameLookup(Generic[T]):
    """Entries by every name they answer to; when two entries claim one name, the first keeps it."""

    def __init__(self, entries: Iterable[tuple[T, Iterable[str]]], *, what: str, field: str, accepted: str) -> None:
        self.what = what
        self.field = field
        self.accepted = accepted
        self._by_name: dict[str, T] = {}
        for entry, names in entries:
            for name in names:
                key = fold(name)
                if key:
                    self._by_name.setdefault(key, entry)

    def get(self, name: str | None) -> T | None:
        return self._by_name.get(fold(name or ""))

    def resolve(self, name: str | None) -> T:
        """The entry `name` names. Raises InvalidInput naming the field and listing what is accepted."""
        entry = self.get(name)
        if entry is None:
            raise InvalidInput(f"unknown {self.what} {name!r}", field=self.field, accepted=self.accepted)
        return entry

    def find_in(self, text: str | None) -> T | None:
        """The entry whose longest name (two characters or more) appears in free text, if any."""
        haystack = fold(text or "")
        hits = [(len(key), entry) for key, entry in self._by_name.items() if len(key) >= 2 and key in haystack]
        return max(hits, key=lambda h: h[0])[1] if hits else None
