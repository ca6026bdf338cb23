"""The public results: frozen dataclasses, never bare strings or nested dicts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """One numbered source of an answer: a stored passage and the sentence in it that backs the claim."""

    n: int
    passage_id: str
    article_id: str
    title: str
    published: str
    source: str
    url: str
    text: str
    span: tuple[int, int]  # character offsets of the supporting sentence in `text`
    also_in: tuple[str, ...] = ()  # the other sources of the same article (stored once): "also in ..."

    @property
    def supporting_text(self) -> str:
        return self.text[self.span[0] : self.span[1]]


@dataclass(frozen=True)
class Timings:
    """Seconds spent in each stage of one answer."""

    condense: float = 0.0
    retrieve: float = 0.0
    first_token: float = 0.0  # from the call to the first streamed text
    generate: float = 0.0
    total: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Answer:
    """The assistant's answer: text with [n] markers, its citations in marker order, or a refusal."""

    text: str
    citations: tuple[Citation, ...]
    refused: bool
    question: str
    standalone_question: str = ""
    backend: str = ""
    notes: tuple[str, ...] = ()  # what the grounding guards did (dropped markers, removed sentences, ...)
    retrieved: tuple[str, ...] = ()  # passage ids the retriever ranked, best first
    timings: Timings = field(default_factory=Timings)
    answer_check: float | None = None  # the model's P(the answer answers the question); None: not checked
    language: str = "en"  # the language the answer is written in (ISO 639-1): the question's, when it could

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [dict(asdict(c), supporting_text=c.supporting_text) for c in self.citations]
        return data


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer as it is generated (before the grounding guards run)."""

    text: str


StreamEvent = TextDelta | Answer
