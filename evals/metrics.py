"""Pure metric functions for the evaluation harness: no model, no I/O, deterministic.

What is here: answer normalisation (case, punctuation, thousands separators, number words, articles), gold
answer matching, SQuAD token F1, answer sentence splitting with their [n] markers, evidence matching, the
per-question score (`score_question`, which asks a `Judge` whether cited passages back each sentence) and
the aggregate (`summarise`) with a registry of its keys (`METRICS`).

What is deliberately not here: running the assistant, reading sets, loading models. The evaluator keeps its
own text tools rather than reusing the assistant's, so a bug there cannot hide itself here.

Every function returns a number or None ("not applicable"), never NaN: an empty or unparseable input counts
as a failure (False / 0.0).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from text_to_num import alpha2digit

from assistant.languages import detect
from assistant.markers import cited as markers
from assistant.markers import cited_sentences
from assistant.markers import strip_markers as _strip_markers

if TYPE_CHECKING:
    from .judge import Judge

__all__ = [
    "METRICS",
    "REFUSAL",
    "STOPWORDS",
    "AnswerLike",
    "CitationLike",
    "MetricSpec",
    "QuestionScore",
    "evidence_in",
    "is_refusal_sentence",
    "markers",
    "matches_all",
    "matches_any",
    "metric_spec",
    "normalise_answer",
    "score_question",
    "split_sentences",
    "strip_markers",
    "summarise",
    "token_f1",
    "yes_no",
]

REFUSAL = "The articles do not say."

_STOPWORD_TEXT = """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each either few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself neither no nor not now of off on once only or other our ours out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom whose why will with would you your
    yours yourself
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# ---------------------------------------------------------------------------------------------------------
# Normalisation

_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
# text2num reads "one hundred and five" and "twenty four"; these two it leaves: "2.5 million", "a hundred"
_DIGITS_BEFORE_SCALE = re.compile(r"(?<!\S)(\d+(?:\.\d+)?) (thousand|million|billion)\b")
_ARTICLE_BEFORE_SCALE = re.compile(r"(?<!\S)an? (?=(?:hundred|thousand|million|billion)\b)")
_DECIMAL = re.compile(r"\d+\.\d+")
# "12,000", "1,234,567": a comma between a digit and a group of exactly three digits
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# "12 000" with a space, NBSP, narrow NBSP or thin space: a 1-3 digit head, then groups of three
_THOUSANDS_SPACE = re.compile(r"(?<![\d.,])\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+(?![\d])")
_ORDINAL = re.compile(r"(\d+)(?:st|nd|rd|th)")
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")
# "...by Kevin Wignall.Alan Leech is...": a sentence end with its space lost (before lowercasing)
_GLUED_SENTENCE = re.compile(r"(?<=[a-z0-9\"'”’)\]])([.!?;:])(?=[A-Z])|(?<=[a-z\"'”’)\]])([.!?;:])(?=\d)")
_DASHES = "-‐‑‒–—―/"


def _strip_punctuation(text: str) -> str:
    """Dashes and slashes become spaces; other punctuation and symbols go; decimal points stay."""
    text = _DECIMAL_POINT.sub("\x00", "".join(ch for ch in text if ch != "\x00"))
    out = []
    for ch in text:
        if ch in _DASHES:
            out.append(" ")
        elif ch != "\x00" and unicodedata.category(ch)[0] in "PSC" and not ch.isspace():
            continue  # punctuation, symbols, control and format characters
        else:
            out.append(ch)
    return "".join(out).replace("\x00", ".")


def _format_number(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _words_to_numbers(text: str, scales: bool = True) -> str:
    """Numbers written in words as digits ("one hundred and five" -> "105", "a hundred" -> "100", "2.5
    million" -> "2500000", or "2.5 million" as it is without `scales`), by text2num; decimals in their
    shortest form ("3.50" -> "3.5")."""
    text = _ARTICLE_BEFORE_SCALE.sub("one ", text)
    if scales:
        text = _DIGITS_BEFORE_SCALE.sub(lambda m: _format_number(Decimal(m[1]) * _SCALES[m[2]]), text)
    text = alpha2digit(text, "en", threshold=0)
    return " ".join(_format_number(Decimal(t)) if _DECIMAL.fullmatch(t) else t for t in text.split())


def normalise_answer(text: str, scales: bool = True) -> str:
    """Lowercase; join thousands separators; number words to digits; drop punctuation, articles, extra space.

    "About 12,000 procedures." -> "about 12000 procedures"; "a hundred" -> "100"; "twenty-four" -> "24";
    "Nurzhigitov's" -> "nurzhigitov"; "24th" -> "24". Decimal points between digits are kept ("3.5").
    Without `scales`, "170 billion" stays "170 billion" (not "170000000000").
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text.replace("\u202f", " ").replace("\u00a0", " "))
    text = _GLUED_SENTENCE.sub(lambda m: m.group(0) + " ", text).lower()
    text = _THOUSANDS_COMMA.sub("", text)
    text = _THOUSANDS_SPACE.sub(lambda m: re.sub(r"\s", "", m.group(0)), text)
    text = _POSSESSIVE.sub("", text)
    tokens = [
        _ORDINAL.sub(r"\1", t) if _ORDINAL.fullmatch(t) else t for t in _strip_punctuation(text).split()
    ]
    words = _words_to_numbers(" ".join(tokens), scales).split()
    return " ".join(t for t in words if t not in ("a", "an", "the"))


def _tokens(text: str) -> list[str]:
    return normalise_answer(text).split()


# ---------------------------------------------------------------------------------------------------------
# Gold answers


def _contains(normalised_answer: str, gold: str) -> bool:
    """Gold (normalised) occurs in the answer starting at a word; a gold ending in a digit must end a word."""
    if not gold:
        return False
    end = r"(?!\S)" if gold[-1].isdigit() else ""
    return re.search(r"(?<!\S)" + re.escape(gold) + end, normalised_answer) is not None


def matches_any(answer: str, answers: Iterable[str]) -> bool:
    """True if any gold string, normalised, occurs in the normalised answer.

    The match starts at a word boundary ("rare" is not found in "nightmare") and, for a gold ending in a
    digit, ends at one ("13" is not found in "130"); a word may take a suffix ("cancer" in "cancers").
    A figure matches with its scale word or without: gold "170" is in "over 170 billion tenge", as is gold
    "170 billion" (both readings of the answer are tried). An empty answer or an empty gold list is no
    match.
    """
    readings = {normalise_answer(answer), normalise_answer(answer, scales=False)} - {""}
    golds = [normalise_answer(g) for g in answers]
    return any(_contains(norm, gold) for norm in readings for gold in golds)


_YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def yes_no(answer: str) -> str | None:
    """The verdict an answer opens with ("Yes, ...", "No: ..."), or None when it opens with neither.

    A yes/no question is scored on its verdict alone: substring matching would find "no" in "not" or
    "November", and an answer that hedges ("A says ..., B says ...") gives no verdict at all."""
    match = _YES_NO.match(strip_markers(answer))
    return match.group(1).lower() if match else None


def matches_all(answer: str, answers_all: Iterable[str]) -> bool:
    """True if every gold string occurs in the answer (as in `matches_any`); False for an empty list."""
    golds = [normalise_answer(g) for g in answers_all]
    norm = normalise_answer(answer)
    return bool(norm) and bool(golds) and all(_contains(norm, g) for g in golds)


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 on normalised tokens: both empty -> 1.0, one empty -> 0.0."""
    pred, ref = _tokens(prediction), _tokens(reference)
    if not pred and not ref:
        return 1.0
    if not pred or not ref:
        return 0.0
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


# ---------------------------------------------------------------------------------------------------------
# Sentences and markers


def strip_markers(text: str) -> str:
    """Remove [n] (and [n, m]) markers and the space before them: "X is 5 [1]." -> "X is 5."."""
    return _strip_markers(text).strip()


def split_sentences(text: str) -> list[str]:
    """An answer's sentences, each keeping its [n] markers: the sentences the guards checked
    (`assistant.markers.cited_sentences`; lines and bullets, a marker after the full stop belongs to the
    sentence before it)."""
    return cited_sentences(text)


def is_refusal_sentence(sentence: str, refusal: str = REFUSAL) -> bool:
    """Is this sentence the refusal, or starts with it ("The articles do not say who won.")?"""
    norm, ref = normalise_answer(strip_markers(sentence)), normalise_answer(refusal)
    return bool(ref) and (norm == ref or norm.startswith(ref + " "))


# ---------------------------------------------------------------------------------------------------------
# Evidence


def evidence_in(passage_text: str, evidence: str, threshold: float = 0.8) -> bool:
    """Does the passage contain (most of) the evidence sentence?

    Both are normalised (so "June 19 , 2009 ." matches "June 19, 2009."). True on a normalised substring,
    or when at least `threshold` of the evidence's distinct content words (stopwords removed; all words if
    it has none) occur in the passage. Empty evidence is never found.
    """
    ev, passage = normalise_answer(evidence), normalise_answer(passage_text)
    if not ev or not passage:
        return False
    if f" {ev} " in f" {passage} ":
        return True
    words = set(ev.split())
    content = {w for w in words if w not in STOPWORDS} or words
    present = set(passage.split())
    return len(content & present) / len(content) >= threshold


def _first_hit(texts: Sequence[str], evidence: Sequence[str]) -> int | None:
    """0-based index of the first text containing any evidence sentence."""
    for i, text in enumerate(texts):
        if any(evidence_in(text, ev) for ev in evidence):
            return i
    return None


# ---------------------------------------------------------------------------------------------------------
# Per-question score


class CitationLike(Protocol):
    """What scoring reads of a citation (assistant.types.Citation has it)."""

    @property
    def n(self) -> int: ...

    @property
    def text(self) -> str: ...


class AnswerLike(Protocol):
    """What scoring reads of an answer (assistant.types.Answer has it)."""

    @property
    def text(self) -> str: ...

    @property
    def citations(self) -> Sequence[CitationLike]: ...

    @property
    def refused(self) -> bool: ...

    @property
    def english_text(self) -> str:
        """The checked English answer a translated `text` translates ('' when `text` is that answer)."""
        ...


@dataclass(frozen=True)
class QuestionScore:
    """The scores of one answer; None means "does not apply to this question", never "failed"."""

    correct: bool | None
    refused: bool
    should_refuse: bool
    refusal_ok: bool
    citation_recall: float | None = None
    citation_precision: float | None = None
    evidence_hit: bool | None = None
    faithfulness: float | None = None
    f1: float | None = None
    retrieval_recall_at_k: dict[int, float] | None = None
    mrr: float | None = None
    reasons: list[str] = field(default_factory=list)
    in_language: bool | None = None  # an answer (not a refusal) to a question with `lang`: in that language?


def _join(passages: Iterable[str]) -> str:
    return "\n\n".join(passages)


def _citation_scores(
    sentences: list[str], by_n: dict[int, str], judge: Judge, reasons: list[str]
) -> tuple[float, float]:
    """ALCE citation recall and precision over answer sentences."""
    supported = 0
    pairs = relevant = 0
    for i, sentence in enumerate(sentences, 1):
        claim = strip_markers(sentence)
        cited = markers(sentence)
        known = [n for n in cited if n in by_n]
        for n in cited:
            if n not in by_n:
                reasons.append(f"sentence {i}: marker [{n}] points at no citation")
        pairs += len(cited)
        if not cited:
            reasons.append(f"sentence {i} has no citation: {claim!r}")
            continue
        union_ok = bool(known) and judge.supports(claim, _join(by_n[n] for n in known))
        if union_ok:
            supported += 1
        else:
            reasons.append(f"sentence {i} is not supported by its citations {cited}: {claim!r}")
        for n in known:
            if len(known) == 1:
                alone, needed = union_ok, False
            else:
                alone = judge.supports(claim, by_n[n])
                needed = (
                    not alone
                    and union_ok
                    and not judge.supports(claim, _join(by_n[m] for m in known if m != n))
                )
            if alone or needed:
                relevant += 1
            elif union_ok:
                reasons.append(f"sentence {i}: citation [{n}] is not needed for its support")
    recall = supported / len(sentences) if sentences else 0.0
    precision = relevant / pairs if pairs else 0.0
    return recall, precision


def score_question(
    item: dict[str, Any],
    answer: AnswerLike,
    judge: Judge,
    retrieved_texts: Sequence[str] = (),
    ks: Sequence[int] = (1, 3, 5, 10),
) -> QuestionScore:
    """Score one answer against one questions.jsonl row (see the set README for its fields).

    - correct: answerable: not refused, matches `answers` (if given) and `answers_all` (if given); None
      when it has neither. Unanswerable: refused.
    - citation recall / precision (ALCE): a sentence is backed when the union of its cited passages
      supports it (a sentence without markers is not); a (sentence, citation) pair is relevant when that
      passage alone supports the sentence, or the union does and fails without it. Refusal sentences are
      not claims. None for a refused answer; 0.0 for an answer with no sentences or no citations.
    - evidence_hit: some citation's text contains an `evidence` sentence. None without evidence or when
      refused.
    - faithfulness: share of sentences supported by the union of all cited passages (None when refused;
      0.0 for an empty answer).
    - f1: token F1 of the answer (markers stripped) against `reference`, 0.0 when refused; None without
      a reference or for an unanswerable question.
    - retrieval_recall_at_k / mrr: from `retrieved_texts` (ranked passage texts) and `evidence`.
    """
    reasons: list[str] = []
    answerable = bool(item.get("answerable", True))
    should_refuse = not answerable
    evidence = [e for e in item.get("evidence") or [] if e and e.strip()]
    answers = list(item.get("answers") or [])
    answers_all = list(item.get("answers_all") or [])
    reference = item.get("reference") or ""

    text = answer.text or ""
    all_sentences = split_sentences(text)
    sentences = [s for s in all_sentences if not is_refusal_sentence(s)]
    refused = bool(answer.refused) or (bool(all_sentences) and not sentences and not answer.citations)
    plain = strip_markers(text)
    if not refused and not sentences:
        reasons.append("empty answer")

    correct: bool | None
    if should_refuse:
        correct = refused
        if not refused:
            reasons.append("answered a question it should have refused")
    elif not answers and not answers_all:
        correct = None
        if refused:
            reasons.append("refused an answerable question")
    elif refused:
        correct = False
        reasons.append("refused an answerable question")
    elif item.get("yesno"):
        verdict = yes_no(plain)
        golds = {normalise_answer(g) for g in answers}
        correct = verdict is not None and verdict in golds
        if verdict is None:
            reasons.append("the answer to a yes/no question opens with neither yes nor no")
        elif not correct:
            reasons.append(f"answered {verdict!r}, the right verdict is {sorted(golds)}")
    else:
        correct = True
        if answers and not matches_any(plain, answers):
            correct = False
            reasons.append(f"none of the answers {answers} is in the answer")
        if answers_all:
            missing = [g for g in answers_all if not matches_any(plain, [g])]
            if missing:
                correct = False
                reasons.append(f"missing from the answer: {missing}")

    by_n = {c.n: c.text for c in answer.citations}
    citation_recall = citation_precision = faithfulness = None
    evidence_hit: bool | None = None
    if not refused and answer.english_text:
        # a translated answer's claims are judged as the guards checked them: in English, against the
        # English passages (a judge of words cannot compare a Russian sentence with an English passage)
        sentences = [s for s in split_sentences(answer.english_text) if not is_refusal_sentence(s)]
    if not refused:
        citation_recall, citation_precision = _citation_scores(sentences, by_n, judge, reasons)
        all_cited = _join(by_n[n] for n in sorted(by_n))
        faithful = sum(1 for s in sentences if all_cited and judge.supports(strip_markers(s), all_cited))
        faithfulness = faithful / len(sentences) if sentences else 0.0
        if evidence:
            evidence_hit = _first_hit(list(by_n.values()), evidence) is not None
            if not evidence_hit:
                reasons.append("no cited passage contains the evidence")

    f1: float | None = None
    if reference and answerable:
        f1 = 0.0 if refused else token_f1(plain, reference)

    recall_at_k: dict[int, float] | None = None
    mrr: float | None = None
    if evidence:
        hit = _first_hit(retrieved_texts, evidence)
        recall_at_k = {k: 1.0 if hit is not None and hit < k else 0.0 for k in ks}
        mrr = 0.0 if hit is None else 1.0 / (hit + 1)
        if hit is None:
            reasons.append(f"no retrieved passage (of {len(retrieved_texts)}) contains the evidence")

    in_language: bool | None = None
    if item.get("lang") and not refused:
        # a note in the question's language before an answer in another ("(The translation failed ...)")
        # does not make the answer that language: the claims are judged
        claims = re.sub(r"^\s*\([^)]*\)\s*", "", plain)
        in_language = detect(claims).code == item["lang"]
        if not in_language:
            reasons.append(f"the answer is not in the question's language ({item['lang']})")

    return QuestionScore(
        correct=correct,
        refused=refused,
        should_refuse=should_refuse,
        refusal_ok=refused == should_refuse,
        citation_recall=citation_recall,
        citation_precision=citation_precision,
        evidence_hit=evidence_hit,
        faithfulness=faithfulness,
        f1=f1,
        retrieval_recall_at_k=recall_at_k,
        mrr=mrr,
        reasons=reasons,
        in_language=in_language,
    )


# ---------------------------------------------------------------------------------------------------------
# Aggregation


@dataclass(frozen=True)
class MetricSpec:
    """One key of the `summarise` output; `higher_is_better` is None for counts (not gated)."""

    name: str
    description: str
    higher_is_better: bool | None


DEFAULT_KS = (1, 3, 5, 10)

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("n", "questions scored", None),
    MetricSpec("n_answerable", "answerable questions", None),
    MetricSpec("n_unanswerable", "unanswerable questions (the right answer is a refusal)", None),
    MetricSpec("accuracy", "answerable questions answered right (gold answers matched, not refused)", True),
    MetricSpec(
        "answerable_right_and_cited",
        "answerable questions answered right with every citation supporting its sentence",
        True,
    ),
    MetricSpec("refusal_recall", "unanswerable questions refused", True),
    MetricSpec("refusal_precision", "refusals that were right (the question was unanswerable)", True),
    MetricSpec("wrong_refusal_rate", "answerable questions refused", False),
    MetricSpec("answer_in_language", "answers in the question's language (questions with `lang`)", True),
    MetricSpec("citation_recall", "ALCE: answer sentences supported by their cited passages (mean)", True),
    MetricSpec("citation_precision", "ALCE: citations that support (or are needed for) their sentence", True),
    MetricSpec("evidence_hit", "answers citing a passage that contains the gold evidence", True),
    MetricSpec("faithfulness", "answer sentences supported by the union of the cited passages (mean)", True),
    MetricSpec("f1", "token F1 against the reference answer (mean)", True),
    *(
        MetricSpec(f"recall@{k}", f"evidence among the first {k} retrieved passages", True)
        for k in DEFAULT_KS
    ),
    MetricSpec("mrr", "mean reciprocal rank of the first retrieved passage holding evidence", True),
    MetricSpec("first_token_p50_s", "median seconds to the first streamed token", False),
    MetricSpec("first_token_p95_s", "95th percentile seconds to the first streamed token", False),
    MetricSpec("total_p50_s", "median seconds per answer", False),
    MetricSpec("total_p95_s", "95th percentile seconds per answer", False),
)


def metric_spec(name: str) -> MetricSpec:
    """The spec of a summary key (any "recall@k" is accepted); a KeyError lists the valid names."""
    for spec in METRICS:
        if spec.name == name:
            return spec
    match = re.fullmatch(r"recall@(\d+)", name)
    if match:
        k = match.group(1)
        return MetricSpec(name, f"evidence among the first {k} retrieved passages", True)
    valid = ", ".join(s.name for s in METRICS)
    raise KeyError(f"unknown metric {name!r}; valid: {valid}")


def _mean(values: Iterable[float | bool | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    kept = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.percentile(kept, q)) if kept else None


def _summary(scores: Sequence[QuestionScore], latencies: Sequence[tuple[float, float]]) -> dict[str, Any]:
    answerable = [s for s in scores if not s.should_refuse]
    unanswerable = [s for s in scores if s.should_refuse]
    graded = [s for s in answerable if s.correct is not None]
    ks = sorted({k for s in scores if s.retrieval_recall_at_k for k in s.retrieval_recall_at_k} or DEFAULT_KS)
    out: dict[str, Any] = {
        "n": len(scores),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "accuracy": _mean(s.correct for s in graded),
        "answerable_right_and_cited": _mean(bool(s.correct) and s.citation_precision == 1.0 for s in graded),
        "refusal_recall": _mean(s.refused for s in unanswerable),
        "refusal_precision": _mean(s.should_refuse for s in scores if s.refused),
        "wrong_refusal_rate": _mean(s.refused for s in answerable),
        "answer_in_language": _mean(s.in_language for s in scores),
        "citation_recall": _mean(s.citation_recall for s in scores),
        "citation_precision": _mean(s.citation_precision for s in scores),
        "evidence_hit": _mean(s.evidence_hit for s in scores),
        "faithfulness": _mean(s.faithfulness for s in scores),
        "f1": _mean(s.f1 for s in scores),
    }
    for k in ks:
        out[f"recall@{k}"] = _mean(
            s.retrieval_recall_at_k.get(k) if s.retrieval_recall_at_k else None for s in scores
        )
    out["mrr"] = _mean(s.mrr for s in scores)
    first = [t[0] for t in latencies]
    total = [t[1] for t in latencies]
    out["first_token_p50_s"] = _percentile(first, 50)
    out["first_token_p95_s"] = _percentile(first, 95)
    out["total_p50_s"] = _percentile(total, 50)
    out["total_p95_s"] = _percentile(total, 95)
    return out


def summarise(
    scores: Sequence[QuestionScore],
    kinds: Sequence[str],
    latencies: Sequence[tuple[float, float]] = (),
    languages: Sequence[str] = (),
) -> dict[str, Any]:
    """Aggregate question scores: {"overall": {...}, "by_kind": {kind: {...}}} with the `METRICS` keys, and
    "by_lang" as well when `languages` (parallel to `scores`, "en" where a row has no `lang`) holds more than
    English.

    `kinds` is parallel to `scores`; `latencies` holds (seconds to first token, total seconds) per question,
    parallel to `scores`, or is empty. Means skip questions where a score does not apply; a value with no
    question to average is None (never NaN).
    """
    if len(kinds) != len(scores):
        raise ValueError(f"{len(kinds)} kinds for {len(scores)} scores")
    if latencies and len(latencies) != len(scores):
        raise ValueError(f"{len(latencies)} latencies for {len(scores)} scores")
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted(set(kinds)):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        by_kind[kind] = _summary([scores[i] for i in idx], [latencies[i] for i in idx] if latencies else [])
    out: dict[str, Any] = {"overall": _summary(scores, latencies), "by_kind": by_kind}
    if languages and set(languages) != {"en"}:
        if len(languages) != len(scores):
            raise ValueError(f"{len(languages)} languages for {len(scores)} scores")
        out["by_lang"] = {
            lang: _summary(
                [scores[i] for i, x in enumerate(languages) if x == lang],
                [latencies[i] for i, x in enumerate(languages) if x == lang] if latencies else [],
            )
            for lang in sorted(set(languages))
        }
    return out
