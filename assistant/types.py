"""The public results: frozen dataclasses, never bare strings or nested dicts.

`to_dict()` gives the JSON form of each (what the API sends, `ask --json` prints and the conversation
store keeps); `from_dict()` reads it back, tolerating fields that are missing (older stored turns) or
unknown (newer ones).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
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

    def to_dict(self) -> dict[str, Any]:
        """The fields, the span as a list, and the `supporting_text` it marks."""
        return {**asdict(self), "span": list(self.span), "supporting_text": self.supporting_text}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Citation:
        span = data.get("span") or (0, 0)
        return cls(
            n=int(data.get("n", 0)),
            passage_id=str(data.get("passage_id", "")),
            article_id=str(data.get("article_id", "")),
            title=str(data.get("title", "")),
            published=str(data.get("published", "")),
            source=str(data.get("source", "")),
            url=str(data.get("url", "")),
            text=str(data.get("text", "")),
            span=(int(span[0]), int(span[1])),
            also_in=tuple(str(label) for label in data.get("also_in", ())),
        )


class NoteKind(StrEnum):
    """What a note on an answer records: a stable code to match on (the note's text is for people)."""

    MARKER_DROPPED = "marker_dropped"  # a [n] that points at no passage was dropped
    INSTRUCTION_REMOVED = "instruction_removed"  # a sentence obeying an order inside a passage was removed
    CITATION_TRIMMED = "citation_trimmed"  # citations that add nothing to a supported sentence were dropped
    RECITED = "recited"  # a sentence was attributed to the passage that supports it
    UNSUPPORTED_REMOVED = "unsupported_removed"  # a sentence no passage supports was removed
    DRAFT_REFUSED = "draft_refused"  # the generator said the articles do not answer
    FALLBACK = "fallback"  # the next generator answered instead of the one before
    WRONG_ANSWER_TYPE = "wrong_answer_type"  # the answer lacks what the question asks for (a number, a date)
    SLOT_UNFILLED = "slot_unfilled"  # the cited sentences do not give the figure or person the question asks
    SLOT_FROM_EVIDENCE = "slot_from_evidence"  # the sentence of the evidence that gives it is quoted instead
    ANSWER_CHECK = "answer_check"  # the model judged that its answer does not answer the question
    NOT_RELEVANT = "not_relevant"  # no passage is relevant enough to answer from
    NO_ARTICLES_IN_PERIOD = "no_articles_in_period"  # the archive holds nothing from the period asked about
    DIGEST = "digest"  # the answer is a digest: one quoted line per article
    UNTRANSLATED = "untranslated"  # the translation lost a marker, number, name or role: English
    OTHER = "other"  # a note of an answer stored before notes had kinds, or of a kind this version lacks


@dataclass(frozen=True)
class Note:
    """One thing the engine or its guards did to an answer: a `kind` to match on, a `text` to read."""

    kind: NoteKind
    text: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"

    @classmethod
    def from_dict(cls, data: object) -> Note:
        """A note as `Answer.to_dict` wrote it (`{"kind", "text"}`), or as plain text (stored before notes
        had kinds)."""
        if isinstance(data, dict):
            kind = str(data.get("kind", ""))
            known = kind in NoteKind._value2member_map_
            return cls(NoteKind(kind) if known else NoteKind.OTHER, str(data.get("text", "")))
        return cls(NoteKind.OTHER, str(data))


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timings:
        counts = ("prompt_tokens", "completion_tokens")
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in data.items() if k in known}
        values: dict[str, Any] = {k: int(v) if k in counts else float(v) for k, v in kept.items()}
        return cls(**values)


@dataclass(frozen=True)
class Answer:
    """The assistant's answer: text with [n] markers, its citations in marker order, or a refusal."""

    text: str
    citations: tuple[Citation, ...]
    refused: bool
    question: str
    standalone_question: str = ""
    backend: str = ""
    notes: tuple[
        Note, ...
    ] = ()  # what the engine and its guards did (dropped markers, removed sentences, ...)
    retrieved: tuple[str, ...] = ()  # passage ids the retriever ranked, best first
    timings: Timings = field(default_factory=Timings)
    answer_check: float | None = None  # the model's P(the answer answers the question); None: not checked
    english_text: str = ""  # the checked English answer `text` translates ('' when `text` is that answer)
    language: str = "en"  # the language the answer is written in (ISO 639-1): the question's, when it could

    def noted(self, kind: NoteKind) -> bool:
        """Whether a note of `kind` was made on this answer."""
        return any(note.kind == kind for note in self.notes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [c.to_dict() for c in self.citations]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        check = data.get("answer_check")
        return cls(
            text=str(data.get("text", "")),
            citations=tuple(Citation.from_dict(c) for c in data.get("citations", ())),
            refused=bool(data.get("refused", False)),
            question=str(data.get("question", "")),
            standalone_question=str(data.get("standalone_question", "")),
            backend=str(data.get("backend", "")),
            notes=tuple(Note.from_dict(n) for n in data.get("notes", ())),
            retrieved=tuple(str(r) for r in data.get("retrieved", ())),
            timings=Timings.from_dict(data.get("timings") or {}),
            answer_check=None if check is None else float(check),
            english_text=str(data.get("english_text", "")),
            language=str(data.get("language", "en")),
        )


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer as it is generated (before the grounding guards run)."""

    text: str


StreamEvent = TextDelta | Answer
