"""The LLM writer: each node's output asked of the configured OpenAI-compatible endpoint as JSON by the node's
schema (strict structured output), validated by the node's model, and replaced by the built-in writer's,
with the reason, when the endpoint fails or answers something unusable. Prompts are files in `prompts/`."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nanococoa_mcp.errors import field_path
from nanococoa_mcp.homepage.models import (
    Brainstorm,
    Concept,
    HeaderFooter,
    MarketingStrategy,
    NodeNote,
    PageContent,
    SiteStructure,
    StoreRecord,
    Synthesis,
    Turn,
    WriterName,
)
from nanococoa_mcp.homepage.writer import BRAINSTORM_ROUNDS, BuiltinWriter, Written
from nanococoa_mcp.llm import AnswerRejected, json_answer
from nanococoa_mcp.prompts import render_prompt
from nanococoa_mcp.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)
# Keywords strict structured output does not take; the limits are said in the description instead and
# checked by our models on the answer.
_DROPPED = ("title", "default", "minLength", "maxLength", "pattern")


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=1500, description="What you say, in Korean.")


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema as strict structured output wants it: every object closed and every
    property required; string limits moved into the description."""

    def fix(node: Any) -> Any:
        if isinstance(node, list):
            return [fix(x) for x in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("properties", "$defs"):
                out[key] = {name: fix(sub) for name, sub in value.items()}
            elif key not in _DROPPED:
                out[key] = fix(value)
        if "maxLength" in node:
            limit = f"At most {node['maxLength']} characters."
            out["description"] = f"{out['description']} {limit}" if "description" in out else limit
        if out.get("type") == "object" and "properties" in out:
            out["additionalProperties"] = False
            out["required"] = list(out["properties"])
        return out

    schema: dict[str, Any] = fix(model.model_json_schema())
    return schema


def _json(value: BaseModel | list[Any] | dict[str, Any]) -> str:
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return json.dumps(data, ensure_ascii=False, indent=1)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = field_path(err["loc"]) or "answer"
    return f"{where}: {err['msg']}"


class LlmWriter:
    name: WriterName = "llm"

    def __init__(self, settings: Settings, fallback: BuiltinWriter | None = None) -> None:
        self.settings = settings
        self.fallback = fallback or BuiltinWriter()

    async def ask(self, prompt_name: str, values: dict[str, str], model: type[T]) -> T:
        """One completion for `prompt_name`, answered as JSON by `model`'s schema and validated.
        Raises AnswerRejected saying what went wrong."""
        from openai import AsyncOpenAI, OpenAIError

        schema = strict_schema(model)
        prompt = render_prompt(prompt_name, {**values, "schema": json.dumps(schema, ensure_ascii=False)})
        s = self.settings
        try:
            async with AsyncOpenAI(
                base_url=s.llm_base_url, api_key=s.llm_api_key or "none", timeout=s.llm_timeout_sec, max_retries=1
            ) as client:
                resp = await client.chat.completions.create(
                    model=s.llm_model,
                    messages=[{"role": "user", "content": prompt}],
                    response_format={
                        "type": "json_schema",
                        "json_schema": {"name": prompt_name, "strict": True, "schema": schema},
                    },
                )
        except OpenAIError as exc:
            raise AnswerRejected(f"the LLM endpoint failed ({type(exc).__name__}: {str(exc)[:200]})") from exc
        data = json_answer(resp)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise AnswerRejected(f"the answer does not match the schema: {_first_error(exc)}") from exc

    async def _node(
        self, node: str, ask: Callable[[], Awaitable[T]], builtin: Callable[[], Awaitable[Written[T]]]
    ) -> Written[T]:
        try:
            return Written(await ask(), NodeNote(node=node, writer="llm"))
        except AnswerRejected as exc:
            log.warning("homepage node %s: the built-in writer stands in: %s", node, exc)
            made = await builtin()
            return Written(made.output, NodeNote(node=node, writer="builtin", reason=str(exc)))

    async def brainstorm(self, store: StoreRecord) -> Written[Brainstorm]:
        async def ask() -> Brainstorm:
            turns: list[Turn] = []
            for round_no in range(1, BRAINSTORM_ROUNDS + 1):
                for speaker in ("manager", "marketer", "designer"):
                    said = await self.ask(
                        "homepage_brainstorm",
                        {"role": speaker, "store": _json(store), "round": str(round_no),
                         "rounds": str(BRAINSTORM_ROUNDS), "transcript": _transcript(turns)},
                        _Message,
                    )
                    turns.append(Turn(speaker=speaker, round=round_no, message=said.message))
            synthesis = await self.ask(
                "homepage_synthesis", {"store": _json(store), "transcript": _transcript(turns)}, Synthesis
            )
            return Brainstorm(turns=turns, synthesis=synthesis)

        return await self._node("brainstorm", ask, lambda: self.fallback.brainstorm(store))

    async def concept(self, store: StoreRecord, brainstorm: Brainstorm) -> Written[Concept]:
        values = {"store": _json(store), "synthesis": _json(brainstorm.synthesis)}
        return await self._node(
            "concept",
            lambda: self.ask("homepage_concept", values, Concept),
            lambda: self.fallback.concept(store, brainstorm),
        )

    async def marketing(
        self, store: StoreRecord, brainstorm: Brainstorm, concept: Concept
    ) -> Written[MarketingStrategy]:
        values = {"store": _json(store), "synthesis": _json(brainstorm.synthesis), "concept": _json(concept)}
        return await self._node(
            "marketing",
            lambda: self.ask("homepage_marketing", values, MarketingStrategy),
            lambda: self.fallback.marketing(store, brainstorm, concept),
        )

    async def structure(
        self, store: StoreRecord, concept: Concept, marketing: MarketingStrategy
    ) -> Written[SiteStructure]:
        values = {"store": _json(store), "concept": _json(concept), "marketing": _json(marketing)}
        return await self._node(
            "structure",
            lambda: self.ask("homepage_structure", values, SiteStructure),
            lambda: self.fallback.structure(store, concept, marketing),
        )

    async def content(
        self, store: StoreRecord, concept: Concept, marketing: MarketingStrategy, structure: SiteStructure
    ) -> Written[PageContent]:
        values = {"store": _json(store), "concept": _json(concept), "marketing": _json(marketing),
                  "structure": _json(structure)}
        return await self._node(
            "content",
            lambda: self.ask("homepage_content", values, PageContent),
            lambda: self.fallback.content(store, concept, marketing, structure),
        )

    async def header_footer(
        self, store: StoreRecord, concept: Concept, structure: SiteStructure
    ) -> Written[HeaderFooter]:
        values = {"store": _json(store), "concept": _json(concept), "structure": _json(structure)}
        return await self._node(
            "header_footer",
            lambda: self.ask("homepage_header_footer", values, HeaderFooter),
            lambda: self.fallback.header_footer(store, concept, structure),
        )


def _transcript(turns: list[Turn]) -> str:
    if not turns:
        return "(nothing yet: you open the meeting)"
    return "\n".join(f"[round {t.round}] {t.speaker}: {t.message}" for t in turns)
