"""The one OpenAI-compatible client, and the one reader of a model's JSON answer.

Configured by NANOCOCOA_LLM_BASE_URL (a local server) and/or OPENAI_API_KEY, NANOCOCOA_LLM_MODEL. The ad's
copy design and scene prompts (ad/backends/llm_copy.py) and the homepage writer use it; answers are data,
asked for as JSON by schema and read here. The openai SDK is imported on use.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.settings import Settings

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)


class AnswerRejected(ValueError):
    """The endpoint failed or answered something that cannot be used; the message says why."""


def configured(settings: Settings) -> bool:
    """An endpoint is configured: a base URL (a local server needs no key) or an API key (OpenAI)."""
    return bool(settings.llm_base_url or settings.llm_api_key)


def not_configured() -> BackendUnavailable:
    return BackendUnavailable(
        "no LLM endpoint is configured",
        field="llm_base_url",
        accepted="NANOCOCOA_LLM_BASE_URL (any OpenAI-compatible server) and/or OPENAI_API_KEY",
    )


@lru_cache(maxsize=4)
def _client(base_url: str | None, api_key: str | None, timeout: float) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=1)


def client(settings: Settings) -> Any:
    """The openai.OpenAI client for the configured endpoint (one per endpoint, reused). Raises
    BackendUnavailable when none is configured."""
    if not configured(settings):
        raise not_configured()
    return _client(settings.llm_base_url, settings.llm_api_key, settings.llm_timeout_sec)


def complete_json(settings: Settings, prompt: str, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """One chat completion answered as JSON by `schema` (strict structured output), parsed.

    Raises BackendUnavailable when the endpoint is missing or fails (HTTP error, timeout, refused
    connection), AnswerRejected when it answers something that is not one JSON object."""
    from openai import OpenAIError

    llm = client(settings)
    try:
        resp = llm.chat.completions.create(
            model=settings.llm_model,
            messages=[{"role": "user", "content": prompt}],
            response_format={"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}},
        )
    except OpenAIError as exc:
        raise BackendUnavailable(
            f"the LLM endpoint failed ({type(exc).__name__}: {str(exc)[:200]})", field="llm_base_url"
        ) from exc
    data = json_answer(resp)
    if not isinstance(data, dict):
        raise AnswerRejected("the model's answer is not a JSON object")
    return data


def json_answer(resp: Any) -> Any:
    """The JSON in a chat completion's first message (a ```json fence allowed). Raises AnswerRejected
    for a refusal, an empty answer or text that is not JSON."""
    choices = getattr(resp, "choices", None) or []
    message = choices[0].message if choices else None
    content = getattr(message, "content", None)
    if not content:
        refusal = getattr(message, "refusal", None)
        raise AnswerRejected(f"the model refused: {refusal[:200]}" if refusal else "the model's answer is empty")
    fenced = _FENCE.match(content)
    try:
        return json.loads(fenced.group(1) if fenced else content)
    except json.JSONDecodeError as exc:
        raise AnswerRejected(f"the model's answer is not JSON ({exc.msg} at {exc.pos})") from exc
