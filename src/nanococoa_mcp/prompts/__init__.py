"""Every LLM / VLM prompt, as a versioned file in this folder, loaded by name. No prompt lives in code."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from nanococoa_mcp.errors import NotFound

_FIELD = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


@lru_cache(maxsize=32)
def load_prompt(name: str) -> str:
    """The text of `prompts/<name>.md`. Raises NotFound listing the prompts there are."""
    path = resources.files(__package__).joinpath(f"{name}.md")
    if not path.is_file():
        known = sorted(p.name.removesuffix(".md") for p in resources.files(__package__).iterdir()
                       if p.name.endswith(".md"))
        raise NotFound(f"no prompt named {name!r}", field="prompt", accepted=", ".join(known))
    return path.read_text(encoding="utf-8")


def prompt_fields(name: str) -> set[str]:
    return set(_FIELD.findall(load_prompt(name)))


def render_prompt(name: str, values: dict[str, str]) -> str:
    """Fill `{{ field }}` placeholders; every placeholder must be given, and nothing else."""
    fields = prompt_fields(name)
    missing, extra = fields - values.keys(), values.keys() - fields
    if missing or extra:
        raise ValueError(f"prompt {name}: missing {sorted(missing)}, unexpected {sorted(extra)}")
    return _FIELD.sub(lambda m: values[m.group(1)], load_prompt(name))
