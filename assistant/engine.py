"""The query engine: a question (and the conversation so far) in, a grounded `Answer` out.

    condense (a follow-up stands alone, in English)
    -> route: a digest (the news of a period or on a topic), or hybrid retrieval and the relevance gate
    -> draft: the generator chain (local model or OpenAI-compatible server, then extractive), each draft
       through the grounding guards
    -> checks of the grounded draft (answer type, yes/no verdict, the model's own check)
    -> finish: translated back into the question's language, the `Answer`

Each step is a short method over one `Turn` (the question's state, timed step by step); a step that refuses
settles the turn. Dependencies are passed in; `Assistant.from_settings()` builds the defaults. Nothing loads
until the first question (or `warm_up()`).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import TYPE_CHECKING, Any

from ingest.embedding import Embedder, build_embedder
from ingest.passages import count_tokens
from ingest.store import PassageStore

from .context import RankedSentence, numbered, rank_sentences, with_excerpts
from .dates import DateRange, asks_for_latest, day
from .digest import DigestRequest, build_digest, digest_request
from .errors import AssistantError, ConfigError, GeneratorError, QuestionError
from .generation import ChatModel
from .generators import EXTRACTIVE_MIN_SCORE, DigestGenerator, Evidence, Generator, build_generators
from .grounding import Grounded, answers_the_question, ground, is_refusal, split_verdict
from .languages import ENGLISH, Language, detect, faithful, glossary, with_glossary
from .prompts import Prompts
from .questions import is_yes_no
from .retrieval import PER_SOURCE_FIRST, HybridRetriever, Retrieval, Retriever
from .settings import Settings
from .slots import Slot, SlotKind, about, filled_by, fillers, slot_of
from .text import clean_question, names
from .turn import History, Turn
from .types import Answer, Note, NoteKind, StreamEvent, TextDelta

if TYPE_CHECKING:
    from llama_index.core.base.base_query_engine import BaseQueryEngine
    from llama_index.core.base.base_retriever import BaseRetriever

_FOLLOWUP = re.compile(
    r"\b(he|she|it|its|they|them|their|his|her|hers|this|that|these|those|there|then|the same|"
    r"him|which one|what about|and the|how about)\b(?! (?:year|week|month|morning|evening|time)\b)",
    re.IGNORECASE,
)
MAX_PARTS = 3  # a question naming more sources gets the context of three
MAX_SOURCES_LIMIT = 20
SLOT_SENTENCES = 12  # a missed slot is looked for among this many of the best-ranked sentences
OVERRIDE_SENTENCES = 3  # a refusal is overridden only by one of the very best sentences ...
OVERRIDE_MIN_SCORE = 0.5  # ... that is also close to the question

Check = Callable[[Turn], None]
_NO_ARTICLES_NOTE = Note(
    NoteKind.NO_ARTICLES_IN_PERIOD, "the archive holds no article from the period asked about"
)


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
        # what a grounded draft must pass, in order; each may reject it (see `Turn.reject_draft`)
        self.checks: tuple[Check, ...] = (
            self._evidence_first,
            self._gives_what_is_asked,
            self._fills_the_slot,
            self._with_verdict,
            self._model_check,
        )

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
        """Text deltas as the answer is generated, then the final, grounded `Answer` (see `ask`).

        The steps: condense (a follow-up stands alone, in English) -> route (a digest, or retrieval and the
        relevance gate) -> draft (the generator chain, each draft grounded) -> checks -> finish (translate
        back, the `Answer`). A step that refuses settles the turn; the rest are skipped."""
        turn = self._begin(question, history, max_sources, published_between)
        with turn.timed("condense"):
            turn.standalone = self._standalone(turn)
        with turn.timed("retrieve"):
            self._route(turn)
        if not turn.settled:
            with turn.timed("generate"):
                yield from self._draft(turn)
                for check in self.checks if turn.chain[0].checked else ():
                    check(turn)
        yield from self._finish(turn)

    # --- steps ----------------------------------------------------------------------------------------------
    def _begin(
        self, question: object, history: History | None, max_sources: object, published_between: object
    ) -> Turn:
        """The turn of a question, its arguments checked (`QuestionError` names what is wrong)."""
        started = time.perf_counter()
        cleaned = self._validate(question)
        return Turn(
            question=cleaned,
            history=history or [],
            language=detect(cleaned),
            now=self.clock(),
            date_filter=_date_filter(published_between),
            max_sources=_max_sources(max_sources),
            started=started,
        )

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

    def _standalone(self, turn: Turn) -> str:
        """The question standing alone and in English (answered and checked in English, the checked
        answer translated back at the end)."""
        if turn.language is ENGLISH:
            return self._condense(turn.question, turn.history)
        return self._condense_in_english(turn.question, turn.history)

    def _route(self, turn: Turn) -> None:
        """A digest when the question asks for the news of a period or on a topic (and the reader chose no
        dates), else the passages retrieved for it."""
        request = digest_request(turn.standalone, turn.now) if turn.date_filter is None else None
        if request is not None and self._digest(turn, request):
            return
        self._retrieve(turn)

    def _digest(self, turn: Turn, request: DigestRequest) -> bool:
        """One quoted line per article, or the refusal of a period the archive holds nothing from; False
        when nothing is relevant enough for a digest (the question is then answered as any other)."""
        digest = build_digest(request, self.retriever, self.settings.min_relevance, turn.now)
        if digest.empty is not None:
            turn.refuse(
                Note(
                    NoteKind.NO_ARTICLES_IN_PERIOD, "the archive holds no article from the period asked about"
                ),
                self._no_articles(digest.empty, turn.language),
            )
            return True
        if digest.grounded is None:
            return False
        passages = [c.passage for c in digest.grounded.citations]
        turn.evidence = Evidence(turn.standalone, passages, passages, ())
        turn.chain = (DigestGenerator(digest.grounded),)
        turn.notes.append(Note(NoteKind.DIGEST, "a digest"))
        return True

    def _retrieve(self, turn: Turn) -> None:
        """The passages for the question, or a refusal: the period asked about holds no article, or no
        passage is relevant enough."""
        retrieval = self.retriever.retrieve(turn.standalone, now=turn.now, date_filter=turn.date_filter)
        turn.retrieval = retrieval
        turn.retrieved = tuple(h.passage_id for h in retrieval.hits)
        period = retrieval.date_range
        if (
            period is not None
            and period.strict
            and turn.date_filter is None
            and not retrieval.hits
            and not self.retriever.holds_articles(period)
        ):  # "this week" on an archive whose newest article is older: say so, and how old it is
            turn.refuse(
                Note(
                    NoteKind.NO_ARTICLES_IN_PERIOD, "the archive holds no article from the period asked about"
                ),
                self._no_articles(period, turn.language),
            )
            return
        if retrieval.best_dense < self.settings.min_relevance:
            turn.refuse(Note(NoteKind.NOT_RELEVANT, "no passage is relevant enough"))
            return
        turn.evidence = self._evidence(turn.standalone, retrieval, turn.max_sources, turn.now)
        turn.chain = self.generators

    def _evidence(
        self, standalone: str, retrieval: Retrieval, max_sources: int | None, now: datetime
    ) -> Evidence:
        """The numbered passages a generator drafts from, their sentences ranked and cut to the budget."""
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
        # the question is in English by now: English sentences are ranked by the retriever's English ranker,
        # those of articles in other languages by the multilingual embedder
        english = detect(" ".join(p.text[:200] for p in candidates)) is ENGLISH
        ranked = rank_sentences(standalone, candidates, self.retriever.sentence_ranker(english))
        return Evidence(
            standalone,
            candidates,
            with_excerpts(candidates, ranked, budget, self.count_tokens, cover=cover),
            ranked,
            today=day(now) if retrieval.date_range is not None or asks_for_latest(standalone) else "",
        )

    def _draft(self, turn: Turn) -> Iterator[StreamEvent]:
        """Draft through the turn's generator chain, each draft grounded: the next generator drafts when one
        fails or nothing it said survives the guards. English drafts stream as they are written."""
        assert turn.evidence is not None
        evidence, chain = turn.evidence, turn.chain
        turn.backend = chain[0].name
        attempts: list[Grounded] = []
        for i, generator in enumerate(chain):
            draft = ""
            try:
                for delta in generator.stream(evidence):
                    draft += delta
                    if turn.language is ENGLISH:  # another language gets the checked translation, at the end
                        turn.mark_first_text()
                        yield TextDelta(delta)
            except GeneratorError:
                if i + 1 == len(chain):
                    raise
                turn.backend = f"{chain[i + 1].name} (fallback: the model failed)"
                continue
            if generator.checked and is_yes_no(turn.standalone):  # "Yes." has no words to check
                said, draft = split_verdict(draft)
                turn.verdict = turn.verdict or said
            if attempts and not draft:
                break  # the next generator has nothing either: the first refusal stands
            grounded = generator.ground(draft, evidence, self.prompts.refusal)
            if attempts:  # nothing the one before said survived the checks: this one answers instead
                fallback = (
                    "the generated answer failed the grounding checks; "
                    f"the {generator.name} generator answered instead"
                )
                turn.notes += [*attempts[-1].notes, Note(NoteKind.FALLBACK, fallback)]
                turn.backend = f"{generator.name} (fallback: the model's answer failed the guards)"
            attempts.append(grounded)
            if not grounded.refused or is_refusal(draft, self.prompts.refusal):
                break
        turn.grounded = attempts[-1]
        if chain is self.generators:
            turn.usage = self.generators[0].usage

    # --- the checks of a grounded draft ---------------------------------------------------------------------
    def _gives_what_is_asked(self, turn: Turn) -> None:
        """A how-many question needs a number, a when question a date."""
        assert turn.grounded is not None
        if not turn.grounded.refused and not answers_the_question(turn.standalone, turn.grounded.text):
            turn.reject_draft(
                Note(
                    NoteKind.WRONG_ANSWER_TYPE,
                    "the answer does not give what the question asks for (a number or a date)",
                )
            )

    def _fills_the_slot(self, turn: Turn) -> None:
        """The figure or the person the question asks for, as the cited sentences state it ("361 facilities in
        2024", not any number; the name in one clause with "signed", not any name): else a sentence of the
        evidence that gives it is quoted instead, or the answer is refused."""
        assert turn.grounded is not None
        slot = slot_of(turn.standalone)
        if slot is None or turn.grounded.refused:
            return
        cited = [c.passage.text for c in turn.grounded.citations]
        if filled_by(slot, turn.grounded.text, cited):
            return
        unfilled = f"the cited sentences do not give the {slot.kind} the question asks for"
        quoted = self._quote_filling(turn, slot, SLOT_SENTENCES) or self._quote_naming(turn, slot)
        if quoted:
            turn.notes.append(
                Note(NoteKind.SLOT_FROM_EVIDENCE, f"{unfilled}: the evidence's sentence instead")
            )
            turn.grounded = quoted
            turn.backend = f"{turn.backend} (the evidence's sentence quoted)"
            return
        turn.reject_draft(Note(NoteKind.SLOT_UNFILLED, unfilled))

    def _evidence_first(self, turn: Turn) -> None:
        """The model said the articles do not say, but one of the best sentences of the evidence gives the
        figure or the person asked for: it answers, quoted (a refusal of what the archive says is as wrong as
        an answer it does not)."""
        assert turn.grounded is not None
        slot = slot_of(turn.standalone)
        said_no = any(note.kind == NoteKind.DRAFT_REFUSED for note in turn.grounded.notes)
        if slot is None or not turn.grounded.refused or not said_no:
            return
        if quoted := self._quote_filling(turn, slot, OVERRIDE_SENTENCES, OVERRIDE_MIN_SCORE):
            turn.notes.append(
                Note(NoteKind.SLOT_FROM_EVIDENCE, f"the draft refused; the evidence gives the {slot.kind}")
            )
            turn.grounded = quoted
            turn.backend = f"{turn.backend} (the evidence's sentence quoted)"

    def _quote_filling(
        self, turn: Turn, slot: Slot, limit: int, min_score: float = EXTRACTIVE_MIN_SCORE
    ) -> Grounded | None:
        """One of the `limit` best-ranked sentences of the evidence that fills `slot`, quoted and grounded."""
        assert turn.evidence is not None
        for ranked in turn.evidence.ranked[:limit]:
            if ranked.score < min_score:
                break
            if not fillers(slot, ranked.text) or not self._about(turn, slot, ranked):
                continue
            if quoted := self._quote(turn.evidence, ranked):
                return quoted
        return None

    def _quote_naming(self, turn: Turn, slot: Slot) -> Grounded | None:
        """For a person the evidence names in other words than the question's verb: the best sentence that
        names the person the answer gave, quoted, so the reader gets the relation the article states."""
        assert turn.grounded is not None and turn.evidence is not None
        given = names("X " + turn.grounded.text) - slot.asked
        if slot.kind is not SlotKind.ROLE or not given:
            return None
        for ranked in turn.evidence.ranked[:OVERRIDE_SENTENCES]:
            named = ranked.score >= OVERRIDE_MIN_SCORE and given & names("X " + ranked.text)
            if named and self._about(turn, slot, ranked) and (quoted := self._quote(turn.evidence, ranked)):
                return quoted
        return None

    @staticmethod
    def _about(turn: Turn, slot: Slot, ranked: RankedSentence) -> bool:
        assert turn.evidence is not None
        return about(turn.standalone, slot, f"{turn.evidence.candidates[ranked.n - 1].title}\n{ranked.text}")

    def _quote(self, evidence: Evidence, ranked: RankedSentence) -> Grounded | None:
        """A sentence of the evidence as the answer, quoted with its passage's marker and grounded."""
        draft = f"{ranked.text.strip().rstrip('.!?')} [{ranked.n}]."
        quoted = ground(draft, evidence.candidates, self.prompts.refusal)
        return None if quoted.refused else quoted

    def _with_verdict(self, turn: Turn) -> None:
        """The yes/no verdict goes back before the facts that survived the guards."""
        assert turn.grounded is not None
        if turn.verdict and not turn.grounded.refused:
            text = f"{turn.verdict}. {turn.grounded.text}"
            turn.grounded = dataclasses.replace(turn.grounded, text=text)

    def _model_check(self, turn: Turn) -> None:
        """With `answer_check` set, the model says whether the answer answers the question."""
        assert turn.grounded is not None and turn.evidence is not None
        threshold = self.settings.answer_check
        if threshold is None or turn.grounded.refused:
            return
        turn.check = self.generators[0].check(turn.evidence, turn.grounded.text)
        if turn.check is not None and turn.check < threshold:
            said = f"the model's check: the answer does not answer the question (P={turn.check:.2f})"
            turn.reject_draft(Note(NoteKind.ANSWER_CHECK, said))

    # --- finish ---------------------------------------------------------------------------------------------
    def _finish(self, turn: Turn) -> Iterator[StreamEvent]:
        """The final event: the refusal, or the grounded answer translated into the question's language."""
        if turn.refusal is not None or turn.grounded is None or turn.grounded.refused:
            turn.mark_first_text()
            text = turn.refusal or turn.language.refusal or self.prompts.refusal
            yield TextDelta(text)
            yield turn.refused_answer(text, self.backend)
            return
        text, language = turn.grounded.text, ENGLISH
        if turn.language is not ENGLISH:
            text, language = self._from_english(turn.grounded.text, turn.language, turn.notes)
            turn.mark_first_text()
            yield TextDelta(text)
        yield turn.answer(text, language)

    # --- the model's help with questions -----------------------------------------------------------------
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

    def _from_english(self, text: str, language: Language, notes: list[Note]) -> tuple[str, Language]:
        """The checked English answer in `language`, when the translation keeps its markers and numbers;
        otherwise the English answer after a note saying why."""
        keep = glossary(text, language)
        translated = with_glossary(self.generators[0].translate(text, language.name, keep), text, keep)
        if faithful(text, translated) and detect(translated) is language:
            return translated, language
        lost = (
            f"the {language.name} translation lost a marker, a number, a name or a role: the answer is in "
            "English"
        )
        notes.append(Note(NoteKind.UNTRANSLATED, lost))
        if not translated:
            return text, ENGLISH
        return f"{language.untranslated} {text}", ENGLISH

    def _no_articles(self, period: DateRange, language: Language) -> str:
        """The refusal of a period the archive holds nothing from, naming its newest article's date."""
        span = self.retriever.date_span()
        return language.no_articles(period, None if span is None else span[1])

    # --- llama-index components (imported only when asked for) -------------------------------------------
    def as_query_engine(self, **ask_kwargs: Any) -> BaseQueryEngine:
        """This assistant as a llama-index query engine; `ask_kwargs` go to every `ask()`."""
        from .llamaindex import AssistantQueryEngine

        return AssistantQueryEngine(self, **ask_kwargs)

    def as_retriever(self) -> BaseRetriever:
        """This assistant's hybrid retrieval as a llama-index retriever."""
        from .llamaindex import AssistantRetriever

        return AssistantRetriever(self)


def _turns(history: History) -> list[tuple[str, str]]:
    """The last six user and assistant turns, cleaned and cut to 600 characters each."""
    turns = [
        (str(m.get("role", "")), clean_question(str(m.get("content") or "")))
        for m in history
        if isinstance(m, dict) and m.get("role") in ("user", "assistant")
    ]
    return [(role, text[:600]) for role, text in turns if text][-6:]


def history_used(history: History) -> list[dict[str, str]]:
    """The conversation as the engine reads it (the last six turns, cleaned, 600 characters each): what
    the server stores beside a turn, however long the history a client sent."""
    return [{"role": role, "content": text} for role, text in _turns(history)]


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
