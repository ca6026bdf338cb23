"""One question on its way to an answer: the state the engine's steps fill in, and how long each step took.

`Assistant.stream` runs its steps (condense, route, retrieve, draft, check, finish; see `engine`) over one
`Turn`: each step reads what the steps before it settled and adds its own part, so no step passes a
dozen loose values to the next. A turn is settled once a step refuses (`refuse`) or the draft is grounded;
`answer()` makes the public `Answer` of it. Timing is taken once around each step (`timed`), not threaded
through the code by hand.

Deliberately not here: any decision about the answer (the engine's steps make those).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingest.articles import also_in_labels

from .dates import DateRange
from .generation import Usage
from .generators import Evidence, Generator
from .grounding import Grounded
from .languages import Language
from .retrieval import Retrieval
from .types import Answer, Citation, Note, Timings

History = Sequence[dict[str, Any]]


@dataclass
class Turn:
    """One question and everything the steps have settled about it so far."""

    question: str  # as asked, cleaned
    history: History
    language: Language  # the question's; the steps work in English and the answer is translated back
    now: datetime  # when it is asked ("this week", "yesterday")
    date_filter: DateRange | None  # the reader's choice of dates; overrides any time the question names
    max_sources: int | None
    standalone: str = ""  # the question standing alone (a follow-up rewritten), in English
    retrieval: Retrieval | None = None
    retrieved: tuple[str, ...] = ()  # passage ids, best first
    evidence: Evidence | None = None  # what a generator drafts from
    chain: tuple[Generator, ...] = ()  # the generators to try, in order
    grounded: Grounded | None = None  # the checked draft (refused when nothing survived)
    backend: str = ""  # the generator that answered (with a word on any fallback)
    verdict: str = ""  # "Yes" or "No" of a yes/no question, put back before the checked facts
    usage: Usage | None = None  # tokens the model spent
    check: float | None = None  # the model's P(the answer answers the question), when asked
    notes: list[Note] = field(
        default_factory=list
    )  # what the engine's steps did (the guards' are kept apart)
    refusal: str | None = None  # set when a step refuses: the text to say ('' : the language's refusal)
    seconds: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    first_text: float | None = None

    @property
    def settled(self) -> bool:
        """A step has refused, or a draft has been grounded."""
        return self.refusal is not None or self.grounded is not None

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Add the time spent in the block to `step`'s seconds."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - t0

    def mark_first_text(self) -> None:
        """The first text reaches the reader now (time to first token)."""
        if self.first_text is None:
            self.first_text = time.perf_counter()

    def refuse(self, note: Note, text: str = "") -> None:
        """Settle the turn as a refusal (`text`: a refusal other than the language's usual one)."""
        self.notes.append(note)
        self.refusal = text

    def reject_draft(self, note: Note) -> None:
        """The grounded draft fails a check: nothing of it is said."""
        assert self.grounded is not None
        self.notes.append(note)
        self.grounded = dataclasses.replace(self.grounded, text="", citations=(), refused=True)

    def timings(self) -> Timings:
        end = time.perf_counter()
        usage = self.usage or Usage()
        return Timings(
            condense=self.seconds.get("condense", 0.0),
            retrieve=self.seconds.get("retrieve", 0.0),
            first_token=(self.first_text or end) - self.started,
            generate=self.seconds.get("generate", 0.0),
            total=end - self.started,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )

    def refused_answer(self, text: str, backend: str) -> Answer:
        """The refusal this turn settled on (`text` in the question's language)."""
        guards = self.grounded.notes if self.grounded is not None else ()
        return Answer(
            text=text,
            citations=(),
            refused=True,
            question=self.question,
            standalone_question=self.standalone,
            backend=backend,
            notes=(*guards, *self.notes),
            retrieved=self.retrieved,
            timings=self.timings(),
            language=self.language.code,
        )

    def answer(self, text: str, language: Language) -> Answer:
        """The grounded answer (`text`: translated into `language` when it could be)."""
        assert self.grounded is not None
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
            for c in self.grounded.citations
        )
        return Answer(
            text=text,
            citations=citations,
            refused=False,
            question=self.question,
            standalone_question=self.standalone,
            backend=self.backend,
            notes=(*self.grounded.notes, *self.notes),
            retrieved=self.retrieved or tuple(c.passage_id for c in citations),
            timings=self.timings(),
            answer_check=self.check,
            english_text="" if text == self.grounded.text else self.grounded.text,
            language=language.code,
        )
