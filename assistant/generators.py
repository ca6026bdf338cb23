"""What drafts an answer from the evidence, behind one interface:

- `ModelGenerator`: a chat model (the in-process GGUF model or an OpenAI-compatible server) given the prompt;
- `ExtractiveGenerator`: the best-supported sentences of the passages, quoted with their markers;
- `DigestGenerator`: a digest's lines (one quoted sentence per article, see `digest`), grounded by
  construction.

The engine tries the generators of `build_generators()` in order (the backend, then `llm_fallback`): the next
one drafts when the one before fails (`GeneratorError`) or when nothing it said survives the grounding
checks. A draft is checked by the engine's guards whichever generator wrote it (`ground`), except a
digest's, which quotes its articles verbatim and is grounded as it is made.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .context import ContextPassage, RankedSentence
from .errors import GeneratorError
from .generation import ChatModel, Usage, build_chat_model
from .grounding import Grounded, extractive_draft, ground
from .prompts import PromptPassage, Prompts
from .settings import Settings

EXTRACTIVE_MIN_SCORE = 0.35


@dataclass(frozen=True)
class Evidence:
    """What a generator drafts from: the question and the passages chosen for it."""

    question: str  # standalone (a follow-up already rewritten)
    candidates: Sequence[ContextPassage]  # the numbered passages, whole
    excerpts: Sequence[ContextPassage]  # the same passages cut to the excerpt budget: what a prompt shows
    ranked: Sequence[RankedSentence]  # every sentence of the candidates, best support first
    today: str = ""  # the day the question is asked, in words ("7 January 2026"): the prompt says it


class Generator(ABC):
    """Drafts an answer with [n] markers from `Evidence`; the engine grounds it."""

    name: str
    checked: bool = True  # the engine's post-draft checks apply to its answers

    def ground(self, draft: str, evidence: Evidence, refusal: str) -> Grounded:
        """The draft checked against the passages its markers refer to (see `grounding.ground`)."""
        return ground(draft, self.cited(evidence), refusal)

    @abstractmethod
    def stream(self, evidence: Evidence) -> Iterator[str]:
        """Text deltas of the draft ('' or a refusal when the evidence does not answer). Raises
        `GeneratorError` when the backend fails."""

    @abstractmethod
    def cited(self, evidence: Evidence) -> Sequence[ContextPassage]:
        """The passages the draft's markers refer to (and is grounded against)."""

    @property
    def usage(self) -> Usage:
        """Tokens of the last draft (zero where no model ran)."""
        return Usage()

    def warm_up(self) -> None:
        """Load what the first draft would otherwise wait for."""
        return None

    def rewrite(self, transcript: str, question: str, *, english: bool = False) -> str:
        """`question` rewritten to stand alone after `transcript` (`english`: and in English); '' where this
        generator cannot."""
        return ""

    def check(self, evidence: Evidence, answer: str) -> float | None:
        """P(the answer answers the question from the evidence); None where this generator cannot tell."""
        return None

    def translate(self, text: str, language: str, keep: Sequence[tuple[str, str]] = ()) -> str:
        """`text` in `language` (its English name), writing each (English, translated) pair of `keep` (names
        and roles) as given; '' where this generator cannot translate."""
        return ""


class ModelGenerator(Generator):
    """A chat model answering from the prompt built by `Prompts`."""

    def __init__(self, chat_model: ChatModel, prompts: Prompts, *, max_tokens: int) -> None:
        self.chat_model = chat_model
        self.prompts = prompts
        self.max_tokens = max_tokens
        self.name = chat_model.name
        self._prefix_ready = False  # the model's fixed prompt prefix is evaluated (or restored)

    def warm_up(self) -> None:
        """Prepare the fixed prompt prefix once (a local model restores it from disk when an earlier process
        saved it), whether or not the caller warmed up."""
        if not self._prefix_ready:
            self.chat_model.warm_up(self.prompts.answer_messages("warm up", []))
            self._prefix_ready = True

    def stream(self, evidence: Evidence) -> Iterator[str]:
        self.warm_up()
        messages = self.prompts.answer_messages(
            evidence.question, _prompt_passages(evidence.excerpts), today=evidence.today
        )
        yield from self.chat_model.stream(messages, max_tokens=self.max_tokens)

    def cited(self, evidence: Evidence) -> Sequence[ContextPassage]:
        return evidence.excerpts

    @property
    def usage(self) -> Usage:
        return self.chat_model.last_usage

    def rewrite(self, transcript: str, question: str, *, english: bool = False) -> str:
        try:
            return self.chat_model.complete(
                self.prompts.condense_messages(transcript, question, english=english),
                max_tokens=60,
                stop=["\n"],
            )
        except GeneratorError:
            return ""

    def translate(self, text: str, language: str, keep: Sequence[tuple[str, str]] = ()) -> str:
        try:
            translated = self.chat_model.complete(
                self.prompts.translate_messages(text, language, keep),
                max_tokens=min(4 * self.max_tokens, 64 + 4 * len(text) // 3),
            )
        except GeneratorError:
            return ""
        return translated.strip()

    def check(self, evidence: Evidence, answer: str) -> float | None:
        messages = self.prompts.verify_messages(
            evidence.question, _prompt_passages(evidence.excerpts), answer, today=evidence.today
        )
        try:
            return self.chat_model.yes_probability(messages)
        except GeneratorError:
            return None


class ExtractiveGenerator(Generator):
    """No model: the sentences that best answer the question, verbatim, each with its passage's marker."""

    name = "extractive"

    def __init__(self, min_score: float = EXTRACTIVE_MIN_SCORE) -> None:
        self.min_score = min_score

    def stream(self, evidence: Evidence) -> Iterator[str]:
        draft = extractive_draft(evidence.ranked, self.min_score)
        if draft:
            yield draft

    def cited(self, evidence: Evidence) -> Sequence[ContextPassage]:
        return evidence.candidates  # quotes may come from anywhere in a passage, not only its excerpt


class DigestGenerator(Generator):
    """A digest: its lines are quoted from the articles they cite, so they are grounded as they are made
    and pass through no further check."""

    name = "digest"
    checked = False

    def __init__(self, digest: Grounded) -> None:
        self.digest = digest

    def stream(self, evidence: Evidence) -> Iterator[str]:
        yield self.digest.text

    def cited(self, evidence: Evidence) -> Sequence[ContextPassage]:
        return [c.passage for c in self.digest.citations]

    def ground(self, draft: str, evidence: Evidence, refusal: str) -> Grounded:
        return self.digest


def build_generators(
    settings: Settings, prompts: Prompts, chat_model: ChatModel | None = None
) -> tuple[Generator, ...]:
    """The chain the settings choose: the backend's generator (on `chat_model` when given), then the
    fallback (`llm_fallback`) unless the backend is that fallback already."""
    first: Generator
    if settings.llm_backend == "extractive" and chat_model is None:
        first = ExtractiveGenerator()
    else:
        model = chat_model or build_chat_model(settings)
        first = ModelGenerator(model, prompts, max_tokens=settings.llm_max_tokens)
    chain = [first]
    if settings.llm_fallback == "extractive" and not isinstance(first, ExtractiveGenerator):
        chain.append(ExtractiveGenerator())
    return tuple(chain)


def _prompt_passages(passages: Sequence[ContextPassage]) -> list[PromptPassage]:
    return [
        PromptPassage(
            n=p.n,
            title=p.title,
            published=str(p.metadata.get("published", ""))[:10],
            source=str(p.metadata.get("source", "")),
            text=p.excerpt or p.text,
        )
        for p in passages
    ]
