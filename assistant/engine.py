"""The query engine: a question (and the conversation so far) in, a grounded `Answer` out.

    condense follow-up -> hybrid retrieval -> relevance gate -> prompt within a token budget
    -> generator (local model, OpenAI-compatible server, or extractive) -> grounding guards -> Answer

Dependencies are passed in; `Assistant.from_settings()` builds the defaults. Nothing loads until the first
question (or `warm_up()`).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import TYPE_CHECKING, Any

from ingest.articles import also_in_labels
from ingest.embedding import Embedder, build_embedder
from ingest.passages import count_tokens
from ingest.store import PassageStore

from .context import numbered, rank_sentences, with_excerpts
from .dates import DateRange, asks_for_latest, day
from .digest import build_digest, digest_request
from .errors import AssistantError, ConfigError, GeneratorError, QuestionError
from .generation import ChatModel
from .generators import Evidence, Generator, build_generators
from .grounding import Grounded, answers_the_question, ground, is_refusal, split_verdict
from .languages import ENGLISH, Language, detect, faithful
from .prompts import Prompts
from .questions import is_yes_no
from .retrieval import PER_SOURCE_FIRST, HybridRetriever, Retriever
from .settings import Settings
from .text import clean_question
from .types import Answer, Citation, StreamEvent, TextDelta, Timings

if TYPE_CHECKING:
    from llama_index.core.base.base_query_engine import BaseQueryEngine
    from llama_index.core.base.base_retriever import BaseRetriever

History = Sequence[dict[str, Any]]
_FOLLOWUP = re.compile(
    r"\b(he|she|it|its|they|them|their|his|her|hers|this|that|these|those|there|then|the same|"
    r"him|which one|what about|and the|how about)\b(?! (?:year|week|month|morning|evening|time)\b)",
    re.IGNORECASE,
)
MAX_PARTS = 3  # a question naming more sources gets the context of three


@dataclass
class _Clock:
    start: float
    first: float | None = None

    def mark_first(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()


class Assistant:
    """Answers questions about the archive with cited passages, or refuses."""

    def __init__(
        self,
        settings: Settings,
        retriever: Retriever,
        generators: Sequence[Generator],
        prompts: Prompts,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`clock` gives the time questions are asked at ("this week", "yesterday"; default: now, UTC)."""
        if not generators:
            raise ConfigError("the assistant needs at least one generator")
        self.settings = settings
        self.retriever = retriever
        self.generators = tuple(generators)
        self.prompts = prompts
        self.count_tokens = count_tokens
        self.clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        store: PassageStore | None = None,
        embedder: Embedder | None = None,
        chat_model: ChatModel | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Assistant:
        """The assistant on `settings` (default: environment and defaults), with any part given instead of
        the one the settings would build: a store, an embedder (e.g. one already loaded), a chat model (which
        then drafts whatever `llm_backend` says; the fallback still follows `llm_fallback`), a clock (the time
        questions are asked at)."""
        settings = settings or Settings()
        store = store or PassageStore(settings)
        embedder = embedder or build_embedder(settings)
        prompts = Prompts.load()
        generators = build_generators(settings, prompts, chat_model)
        return cls(settings, HybridRetriever(settings, store, embedder), generators, prompts, clock)

    @property
    def backend(self) -> str:
        """The name of the generator that drafts first (local, openai or extractive)."""
        return self.generators[0].name

    def warm_up(self) -> None:
        """Load the embedder, the lexical index and the model, and evaluate the fixed prompt prefix."""
        self.retriever.warm_up()
        self.generators[0].warm_up()

    # --- public API ---------------------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        history: History | None = None,
        *,
        max_sources: int | None = None,
        published_between: tuple[date | None, date | None] | None = None,
    ) -> Answer:
        """The answer to `question`, given the conversation so far (OpenAI/Gradio "messages" form).

        `max_sources` (a whole number, 1 to 20) caps the passages the answer may use; `published_between`
        limits the archive to articles published in that range: two `date`s or `datetime`s, either may be
        None; a `date` end includes that whole day. Anything else raises `QuestionError`.
        """
        answer: Answer | None = None
        for event in self.stream(
            question, history, max_sources=max_sources, published_between=published_between
        ):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        history: History | None = None,
        *,
        max_sources: int | None = None,
        published_between: tuple[date | None, date | None] | None = None,
    ) -> Iterator[StreamEvent]:
        """Text deltas as the answer is generated, then the final, grounded `Answer` (see `ask`)."""
        clock = _Clock(time.perf_counter())
        question = self._validate(question)
        date_filter = _date_filter(published_between)
        max_sources = _max_sources(max_sources)
        language = detect(question)
        now = self.clock()
        t0 = time.perf_counter()
        if language is ENGLISH:
            standalone = self._condense(question, history or [])
        else:  # answered and checked in English (the checked answer is translated back at the end)
            standalone = self._condense_in_english(question, history or [])
        t_condense = time.perf_counter() - t0

        request = digest_request(standalone, now) if date_filter is None else None
        if request is not None:  # the news of a period or on a topic: one quoted line per article
            t0 = time.perf_counter()
            digest = build_digest(request, self.retriever, self.settings.min_relevance, now)
            timing = {"condense": t_condense, "retrieve": time.perf_counter() - t0}
            if digest.empty is not None:
                yield from self._refusal(
                    question,
                    standalone,
                    (),
                    clock,
                    timing,
                    "the archive holds no article from the period asked about",
                    language=language,
                    text=self._no_articles(digest.empty, language),
                )
                return
            if digest.grounded is not None:
                yield from self._answer(
                    question,
                    standalone,
                    digest.grounded,
                    clock,
                    timing,
                    ["a digest"],
                    language,
                    backend="digest",
                )
                return

        t0 = time.perf_counter()
        retrieval = self.retriever.retrieve(standalone, now=now, date_filter=date_filter)
        t_retrieve = time.perf_counter() - t0
        retrieved = tuple(h.passage_id for h in retrieval.hits)
        timing = {"condense": t_condense, "retrieve": t_retrieve}

        period = retrieval.date_range
        if (
            period is not None
            and period.strict
            and date_filter is None
            and not retrieval.hits
            and not self.retriever.store.published_between(period.start, period.end)
        ):  # "this week" on an archive whose newest article is older: say so, and how old it is
            yield from self._refusal(
                question,
                standalone,
                retrieved,
                clock,
                timing,
                "the archive holds no article from the period asked about",
                language=language,
                text=self._no_articles(period, language),
            )
            return
        if retrieval.best_dense < self.settings.min_relevance:
            yield from self._refusal(
                question,
                standalone,
                retrieved,
                clock,
                timing,
                "no passage is relevant enough",
                language=language,
            )
            return
        limit = max_sources or self.settings.max_sources
        budget = self.settings.context_tokens
        cover: set[int] = set()
        if len(retrieval.sources) > 1:
            # a question about several sources: room for each source's best passages and sentences
            parts = min(len(retrieval.sources), MAX_PARTS)
            limit = max(limit, min(PER_SOURCE_FIRST * parts + 1, MAX_SOURCES_LIMIT))
            budget = budget * parts
        candidates = numbered(retrieval.hits, max(1, limit))
        if retrieval.sources:
            cover = {p.n for p in candidates if p.metadata.get("source") in retrieval.sources}
        # the question is in English by now: English sentences are ranked by the embedder's faster English
        # ranker (MiniLM beside e5), those of articles in other languages by the multilingual embedder
        english = detect(" ".join(p.text[:200] for p in candidates)) is ENGLISH
        embedder = self.retriever.embedder
        ranked = rank_sentences(standalone, candidates, embedder.sentence_ranker() if english else embedder)
        evidence = Evidence(
            standalone,
            candidates,
            with_excerpts(candidates, ranked, budget, self.count_tokens, cover=cover),
            ranked,
            today=day(now) if retrieval.date_range is not None or asks_for_latest(standalone) else "",
        )

        t0 = time.perf_counter()
        generator_used = self.backend
        notes: list[str] = []
        verdict = ""
        attempts: list[Grounded] = []
        for i, generator in enumerate(self.generators):
            draft = ""
            try:
                for delta in generator.stream(evidence):
                    draft += delta
                    if language is ENGLISH:  # another language gets the checked translation, at the end
                        clock.mark_first()
                        yield TextDelta(delta)
            except GeneratorError:
                if i + 1 == len(self.generators):
                    raise
                generator_used = f"{self.generators[i + 1].name} (fallback: the model failed)"
                continue
            if is_yes_no(standalone):  # "Yes." has no words to check: the rest is grounded
                said, draft = split_verdict(draft)
                verdict = verdict or said
            if attempts and not draft:
                break  # the next generator has nothing either: the first refusal stands
            grounded = ground(draft, generator.cited(evidence), self.prompts.refusal)
            if attempts:  # nothing the one before said survived the checks: this one answers instead
                notes += [
                    *attempts[-1].notes,
                    "the generated answer failed the grounding checks; "
                    f"the {generator.name} generator answered instead",
                ]
                generator_used = f"{generator.name} (fallback: the model's answer failed the guards)"
            attempts.append(grounded)
            if not grounded.refused or is_refusal(draft, self.prompts.refusal):
                break
        grounded = attempts[-1]
        usage = self.generators[0].usage
        if not grounded.refused and not answers_the_question(standalone, grounded.text):
            notes.append("the answer does not give what the question asks for (a number or a date)")
            grounded = dataclasses.replace(grounded, text="", citations=(), refused=True)
        if verdict and not grounded.refused:
            grounded = dataclasses.replace(grounded, text=f"{verdict}. {grounded.text}")
        check = None
        threshold = self.settings.answer_check
        if threshold is not None and not grounded.refused:
            check = self.generators[0].check(evidence, grounded.text)
            if check is not None and check < threshold:
                notes.append(f"the model's check: the answer does not answer the question (P={check:.2f})")
                grounded = dataclasses.replace(grounded, text="", citations=(), refused=True)
        t_generate = time.perf_counter() - t0
        timing["generate"] = t_generate
        notes = list(grounded.notes) + notes
        if grounded.refused:
            yield from self._refusal(
                question, standalone, retrieved, clock, timing, *notes, usage=usage, language=language
            )
            return
        yield from self._answer(
            question,
            standalone,
            grounded,
            clock,
            timing,
            notes,
            language,
            backend=generator_used,
            retrieved=retrieved,
            usage=usage,
            check=check,
        )

    def _answer(
        self,
        question: str,
        standalone: str,
        grounded: Grounded,
        clock: _Clock,
        timing: dict[str, float],
        notes: list[str],
        language: Language,
        *,
        backend: str,
        retrieved: tuple[str, ...] = (),
        usage: Any = None,
        check: float | None = None,
    ) -> Iterator[StreamEvent]:
        """The grounded answer as the final event (translated into the question's language first)."""
        text, answer_language = grounded.text, ENGLISH
        if language is not ENGLISH:
            text, answer_language = self._from_english(grounded.text, language, notes)
            clock.mark_first()
            yield TextDelta(text)
        elif backend == "digest":  # a digest is not streamed by a generator: its text comes whole
            clock.mark_first()
            yield TextDelta(text)
        citations = tuple(
            Citation(
                n=c.n,
                passage_id=c.passage.passage_id,
                article_id=str(c.passage.metadata.get("article_id", "")),
                title=c.passage.title,
                published=str(c.passage.metadata.get("published", "")),
                source=str(c.passage.metadata.get("source", "")),
                url=str(c.passage.metadata.get("url", "")),
                text=c.passage.text,
                span=c.span,
                also_in=also_in_labels(c.passage.metadata),
            )
            for c in grounded.citations
        )
        yield Answer(
            text=text,
            citations=citations,
            refused=False,
            question=question,
            standalone_question=standalone,
            backend=backend,
            notes=tuple(notes),
            retrieved=retrieved or tuple(c.passage_id for c in citations),
            timings=self._timings(clock, timing, usage),
            answer_check=check,
            language=answer_language.code,
        )

    # --- steps ----------------------------------------------------------------------------------------------
    def _validate(self, question: object) -> str:
        if not isinstance(question, str):
            raise QuestionError("the question must be text")
        if len(question) > self.settings.max_question_chars * 4:
            raise QuestionError(
                f"the question is too long ({len(question):,} characters; the limit is "
                f"{self.settings.max_question_chars:,}): ask about one thing at a time"
            )
        cleaned = clean_question(question)
        if not cleaned:
            raise QuestionError("the question is empty: type a question about the news archive")
        if len(cleaned) > self.settings.max_question_chars:
            raise QuestionError(
                f"the question is too long ({len(cleaned):,} characters; the limit is "
                f"{self.settings.max_question_chars:,}): ask about one thing at a time"
            )
        return cleaned

    def _condense(self, question: str, history: History) -> str:
        """A standalone version of a follow-up question; the question itself when there is no history."""
        turns = _turns(history)
        if not turns or not (_FOLLOWUP.search(question) or len(question.split()) <= 5):
            return question
        last_user = next((text for role, text in reversed(turns) if role == "user"), "")
        transcript = "\n".join(f"{role.capitalize()}: {text}" for role, text in turns)
        rewritten = clean_question(self.generators[0].rewrite(transcript, question)).strip("\"' ")
        if 3 <= len(rewritten) <= 400 and not is_refusal(rewritten, self.prompts.refusal):
            return rewritten
        return f"{last_user} {question}".strip()

    def _to_english(self, question: str) -> str:
        """The question in English for retrieval, the prompt and the guards; the question as asked when no
        model can translate it (the multilingual embedder still finds its passages)."""
        english = clean_question(self.generators[0].translate(question, ENGLISH.name)).strip("\"' ")
        if 3 <= len(english) <= 2 * len(question) + 40 and detect(english) is ENGLISH:
            return english
        return question

    def _condense_in_english(self, question: str, history: History) -> str:
        """A question in another language, standing alone and in English. A follow-up is rewritten from the
        conversation as it was (Russian "он" may be "the plant": translated first, it would be "he")."""
        asked = [text for role, text in _turns(history) if role == "user"][-2:]
        if asked:  # the user's questions only: the 1.5B model took "он" for the person in a Russian answer
            transcript = "\n".join(f"User: {text}" for text in asked)
            rewritten = clean_question(self.generators[0].rewrite(transcript, question, english=True))
            rewritten = rewritten.strip("\"' ")
            if 3 <= len(rewritten) <= 400 and detect(rewritten) is ENGLISH:
                return rewritten
        return self._to_english(question)

    def _from_english(self, text: str, language: Language, notes: list[str]) -> tuple[str, Language]:
        """The checked English answer in `language`, when the translation keeps its markers and numbers;
        otherwise the English answer after a note saying why."""
        translated = self.generators[0].translate(text, language.name)
        if faithful(text, translated) and detect(translated) is language:
            return translated, language
        notes.append(f"the {language.name} translation lost a marker or a number: the answer is in English")
        if not translated:
            return text, ENGLISH
        return f"{language.untranslated} {text}", ENGLISH

    def _refusal(
        self,
        question: str,
        standalone: str,
        retrieved: tuple[str, ...],
        clock: _Clock,
        timing: dict[str, float],
        *notes: str,
        usage: Any = None,
        language: Language = ENGLISH,
        text: str = "",
    ) -> Iterator[StreamEvent]:
        clock.mark_first()
        refusal = text or language.refusal or self.prompts.refusal
        yield TextDelta(refusal)
        yield Answer(
            text=refusal,
            citations=(),
            refused=True,
            question=question,
            standalone_question=standalone,
            backend=self.backend,
            notes=tuple(notes),
            retrieved=retrieved,
            timings=self._timings(clock, timing, usage),
            language=language.code,
        )

    def _no_articles(self, period: DateRange, language: Language) -> str:
        """The refusal of a period the archive holds nothing from, naming its newest article's date."""
        span = self.retriever.store.date_span()
        return language.no_articles(period, None if span is None else span[1])

    @staticmethod
    def _timings(clock: _Clock, timing: dict[str, float], usage: Any) -> Timings:
        end = time.perf_counter()
        return Timings(
            condense=timing.get("condense", 0.0),
            retrieve=timing.get("retrieve", 0.0),
            first_token=(clock.first or end) - clock.start,
            generate=timing.get("generate", 0.0),
            total=end - clock.start,
            prompt_tokens=getattr(usage, "prompt_tokens", 0),
            completion_tokens=getattr(usage, "completion_tokens", 0),
        )

    # --- llama-index components (imported only when asked for) -------------------------------------------
    def as_query_engine(self, **ask_kwargs: Any) -> BaseQueryEngine:
        """This assistant as a llama-index query engine; `ask_kwargs` go to every `ask()`."""
        from .llamaindex import AssistantQueryEngine

        return AssistantQueryEngine(self, **ask_kwargs)

    def as_retriever(self) -> BaseRetriever:
        """This assistant's hybrid retrieval as a llama-index retriever."""
        from .llamaindex import AssistantRetriever

        return AssistantRetriever(self)


MAX_SOURCES_LIMIT = 20


def _turns(history: History) -> list[tuple[str, str]]:
    """The last six user and assistant turns, cleaned and cut to 600 characters each."""
    turns = [
        (str(m.get("role", "")), clean_question(str(m.get("content") or "")))
        for m in history
        if isinstance(m, dict) and m.get("role") in ("user", "assistant")
    ]
    return [(role, text[:600]) for role, text in turns if text][-6:]


def _max_sources(value: object) -> int | None:
    """`max_sources` as given through the API: None (the setting) or a whole number from 1 to 20."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SOURCES_LIMIT:
        raise QuestionError(
            f"max_sources must be a whole number from 1 to {MAX_SOURCES_LIMIT} (got {value!r})"
        )
    return value


def _bound(value: object, which: str, *, end: bool) -> int | None:
    """Epoch seconds of one end of a date range; a `date` end includes that whole day."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value + timedelta(days=1) if end else value, clock_time())
    else:
        raise QuestionError(
            f"published_between takes two dates (datetime.date or datetime.datetime, or None for an open "
            f"end); its {which} is {type(value).__name__} {value!r}"
        )
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp())


def _date_filter(between: object) -> DateRange | None:
    """The publication-date filter a caller chose: None, or a (start, end) pair of dates."""
    if between is None:
        return None
    if not isinstance(between, tuple | list) or len(between) != 2:
        raise QuestionError(
            "published_between takes a pair (start, end) of dates, either of which may be None; "
            f"got {between!r}"
        )
    lo = _bound(between[0], "start", end=False)
    hi = _bound(between[1], "end", end=True)
    if lo is None and hi is None:
        return None
    if lo is not None and hi is not None and hi <= lo:
        raise QuestionError("the date range is empty: its end is before its start")
    return DateRange(lo or 0, 2**40 if hi is None else hi, True, "the chosen dates")


__all__ = ["Assistant", "AssistantError"]
