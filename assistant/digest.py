"""Digests: questions about the news as a whole, answered one line per article.

"What are the main news?", "What is the latest news?", "What happened on January 1, 2026?", "What happened
this week?", "Summarize the news about healthcare", "What is the latest on the biopharma plant?": a question
about a period or a topic across articles. A small set of rules (`digest_request`) tells them from questions
about one fact ("What happened to the plant?" is not a digest); no model decides it.

The answer is extractive, so every line is grounded by construction: one line per article (at most
`MAX_LINES`), newest first, each the article's date and one sentence quoted from it with its [n] marker:

    - 1 January 2026: A large-scale strategic investment project is set to be launched ... [1].

Without a topic the sentence is the article's lead (its headline fact) and the articles are the newest of the
period; with a topic it is the article's sentence closest to the topic, and the articles are the most
relevant ones (the newest relevant ones for "latest"). Deliberately not here: a model-written summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ingest.sentences import sentence_spans
from ingest.store import StoredPassage

from .context import ContextPassage, rank_sentences
from .dates import _MONTH, _MONTH_OR_ABBR, DateRange, asks_for_latest, day, find_date_range
from .grounding import Grounded, GroundedCitation
from .retrieval import Retriever

MAX_LINES = 5
TOPIC_MARGIN = 0.15  # a topic's articles: within this much of the best one's relevance (and above the gate)
_LEAD_MIN_WORDS = 6

# time expressions, removed before the rest of the question is matched ("What happened this week?")
_TIME = re.compile(
    r"\b(?:(?:so far )?today|yesterday|this morning|(?:this|last|past) (?:week|month|year)|recently|lately|"
    r"of late|in recent (?:days|weeks)|(?:the )?(?:last|past) "
    r"(?:\d{1,3}|two|three|four|five|six|seven|ten|few) (?:days|weeks)|(?:last|this) (?:"
    + _MONTH
    + r")|(?:"
    + _MONTH_OR_ABBR
    + r")\.? \d{1,2}(?:st|nd|rd|th)?,? "
    r"\d{4}|(?:the )?\d{1,2}(?:st|nd|rd|th)? (?:of )?(?:"
    + _MONTH_OR_ABBR
    + r")\.?,? \d{4}|\d{4}-\d{2}-\d{2}|"
    r"(?:" + _MONTH_OR_ABBR + r")\.? \d{4}|\d{4})\b",
    re.IGNORECASE,
)
_PREPOSITION_LEFT = re.compile(r"\b(?:on|in|during|from|of|for|over|since)\s*(?=$|,)|\s+,", re.IGNORECASE)
_ADJECTIVES = (
    r"(?:(?:main|top|biggest|big|key|most important|important|major|latest|newest|most recent|recent|"
    r"current|today's|this week's|general)\s+)*"
)
_NEWS = r"(?:news|news stories|stories|headlines|events|articles|reports|developments)"
_TOPIC = r"(?:\s+(?:about|on|regarding|concerning|in|from|of|with)\s+(?P<topic>.+))?"
_RULES = [
    # "What are the main news?", "What is the latest news about healthcare?", "Which stories are in the news?"
    re.compile(
        r"^(?:what|which) (?:are|were|is|was) (?:the |some )?"
        + _ADJECTIVES
        + _NEWS
        + r"(?: in the news)?"
        + _TOPIC
        + "$"
    ),
    # "What happened on January 1, 2026?", "What happened this week?", "What's new?", "Any news?"
    re.compile(
        r"^(?:what(?:'s| is| has| was)? (?:happened|happening|going on|been happening|new)|anything new|"
        r"any news|(?:tell me |give me )?(?:the )?" + _ADJECTIVES + r"(?:news|headlines))(?: in the news)?$"
    ),
    # "Summarize the news about healthcare", "Give me an overview of the articles on energy"
    re.compile(
        r"^(?:please )?(?:can you )?(?:summari[sz]e|sum up|recap|give (?:me )?(?:a |an )?(?:short |brief )?"
        r"(?:summary|overview|digest|roundup|round-up|recap) of|(?:a |an )?(?:short |brief )?"
        r"(?:summary|overview|digest|roundup|round-up|recap) of) (?:the |all |all the )?"
        + _ADJECTIVES
        + r"(?:news|articles|stories|"
        r"coverage|reports|reporting)" + _TOPIC + "$"
    ),
    # "What is the latest on the biopharma plant?", "What are the latest reports about taxis?"
    re.compile(
        r"^what(?:'s| is| are) (?:the )?(?:latest|newest|most recent)(?: " + _NEWS + r")?"
        r"\s+(?:on|about|regarding|concerning|with) (?P<topic>.+)$"
    ),
]


@dataclass(frozen=True)
class DigestRequest:
    """What a digest question asks for: a topic ('' for the news as a whole), a period, and whether the
    newest articles are wanted ("latest")."""

    topic: str
    date_range: DateRange | None
    latest: bool


@dataclass(frozen=True)
class Digest:
    """A digest's lines as a grounded answer, or the period it asked about when the archive holds nothing
    from it (`empty`); both None: nothing relevant (the ordinary path answers or refuses)."""

    grounded: Grounded | None = None
    empty: DateRange | None = None


def digest_request(question: str, now: datetime | None = None) -> DigestRequest | None:
    """The digest a question asks for, or None for a question about one fact."""
    text = " ".join(question.lower().replace("’", "'").split()).strip(" ?!.")
    date_range = find_date_range(question, now)
    rest = _TIME.sub("", text)
    rest = " ".join(_PREPOSITION_LEFT.sub("", rest).split()).strip(" ,?!.")
    for rule in _RULES:
        if m := rule.match(rest):
            topic = (m.groupdict().get("topic") or "").strip(" ,")
            if topic in ("the news", "the archive", "the world", "news"):
                topic = ""
            at = question.lower().replace("’", "'").find(topic) if topic else -1
            topic = question[at : at + len(topic)] if at >= 0 else topic  # as written: names keep capitals
            return DigestRequest(topic, date_range, asks_for_latest(question))
    return None


def build_digest(
    request: DigestRequest, retriever: Retriever, min_relevance: float, now: datetime | None = None
) -> Digest:
    """The lines of the digest `request` asks for, over the retriever's archive."""
    period = request.date_range
    within = None if period is None else DateRange(period.start, period.end, True, period.label)
    if not request.topic:
        openings = retriever.newest_openings(MAX_LINES, within)
        if not openings:
            return Digest(empty=within)
        return Digest(_grounded([(_published_ts(p), p, _lead(p.text)) for p in openings]))

    if within is not None and not retriever.holds_articles(within):
        return Digest(empty=within)
    retrieval = retriever.retrieve(request.topic, now=now, date_filter=within)
    best: dict[str, StoredPassage] = {}
    floor = max(min_relevance, retrieval.best_dense - TOPIC_MARGIN)
    for hit in retrieval.hits:
        article = str(hit.passage.metadata.get("article_id", ""))
        if hit.dense is not None and hit.dense >= floor and article not in best:
            best[article] = hit.passage
    chosen = list(best.values())
    if request.latest:
        chosen.sort(key=_published_ts, reverse=True)
    chosen = chosen[:MAX_LINES]
    if not chosen:
        return Digest()
    numbered = [
        ContextPassage(i + 1, p.passage_id, p.text, str(p.metadata.get("title", "")), p.metadata)
        for i, p in enumerate(chosen)
    ]
    ranked = rank_sentences(request.topic, numbered, retriever.sentence_ranker(english=False))
    lines: list[tuple[int, StoredPassage, tuple[int, int]]] = []
    for cp in numbered:
        spans = [(r.start, r.end) for r in ranked if r.n == cp.n and _is_statement(cp.text[r.start : r.end])]
        lines.append(
            (_published_ts(chosen[cp.n - 1]), chosen[cp.n - 1], spans[0] if spans else _lead(cp.text))
        )
    return Digest(_grounded(lines))


def _published_ts(passage: StoredPassage) -> int:
    return int(passage.metadata.get("published_ts", -1))


def _is_statement(sentence: str) -> bool:
    """A sentence that can stand as a line: enough words, not a caption ("Images | Akorda")."""
    return len(sentence.split()) >= _LEAD_MIN_WORDS and "|" not in sentence


def _lead(text: str) -> tuple[int, int]:
    """The span of a passage's first statement (its headline fact), or of its first sentence."""
    spans = sentence_spans(text)
    return next((s for s in spans if _is_statement(text[s[0] : s[1]])), spans[0] if spans else (0, len(text)))


def _grounded(lines: list[tuple[int, StoredPassage, tuple[int, int]]]) -> Grounded:
    """The lines newest first (undated last), numbered in that order, each quoting its passage."""
    lines = sorted(lines, key=lambda line: line[0], reverse=True)
    text_lines, citations = [], []
    for n, (ts, passage, (a, b)) in enumerate(lines, start=1):
        sentence = passage.text[a:b].strip().rstrip(".")
        when = day(ts) if ts >= 0 else "Undated"
        text_lines.append(f"- {when}: {sentence} [{n}].")
        cp = ContextPassage(
            n, passage.passage_id, passage.text, str(passage.metadata.get("title", "")), passage.metadata
        )
        citations.append(GroundedCitation(n, cp, (a, b)))
    return Grounded("\n".join(text_lines), tuple(citations), refused=False)
