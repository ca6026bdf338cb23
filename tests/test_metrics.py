"""evals.metrics: pure functions, hand-built answers, a scripted judge; no model."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from assistant.types import Answer, Citation
from evals.metrics import (
    METRICS,
    QuestionScore,
    evidence_in,
    markers,
    matches_all,
    matches_any,
    metric_spec,
    normalise_answer,
    score_question,
    split_sentences,
    strip_markers,
    summarise,
    token_f1,
    yes_no,
)

# --- normalisation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("About 12,000 procedures.", "about 12000 procedures"),
        ("1,234,567", "1234567"),
        ("12 000", "12000"),
        ("12\u00a0000", "12000"),
        ("12\u202f000", "12000"),
        ("in 2019 200 people", "in 2019 200 people"),  # a year then a count: not a thousands group
        ("June 19 , 2009 .", "june 19 2009"),
        ("one hundred", "100"),
        ("a hundred schools", "100 schools"),
        ("twenty-four", "24"),
        ("twenty four", "24"),
        ("thirteen", "13"),
        ("five", "5"),
        ("one hundred and five", "105"),
        ("two million three hundred thousand", "2300000"),
        ("1.5 million", "1500000"),
        ("12 thousand", "12000"),
        ("between five and ten", "between 5 and 10"),
        ("nineteen eighty-four", "19 84"),
        ("The U.S. grew 3.50%!", "us grew 3.5"),
        ("Nurzhigitov's team", "nurzhigitov team"),
        ("January 24th", "january 24"),
        ("An apple, a pear and THE Orange", "apple pear and orange"),
        ("  Hello,\n\tWorld  ", "hello world"),
        ("by Kevin Wignall.Alan Leech", "by kevin wignall alan leech"),
        ("high-tech", "high tech"),
        ("", ""),
        ("!!!", ""),
    ],
)
def test_normalise_answer(text: str, expected: str) -> None:
    assert normalise_answer(text) == expected


@given(st.text(max_size=60))
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise_answer(text)
    # the one exception by design: "hundred hundred" -> "100 100", which then reads as "100100"
    assume(re.search(r"\d \d{3}", once) is None)
    assert normalise_answer(once) == once


# --- gold answers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "golds", "expected"),
    [
        ("The center performs about 12 000 procedures [1].", ["12,000"], True),
        ("More than one hundred schools were built.", ["100"], True),
        ("More than 100 schools were built.", ["one hundred"], True),
        ("It was Professor SARBASSOV's plan.", ["Sarbassov"], True),
        ("About 130 radiopharmaceuticals.", ["13"], False),  # a number must match whole
        ("In 2013.", ["13"], False),
        ("Drugs for cancers.", ["cancer"], True),  # a word may take a suffix
        ("A nightmare.", ["rare"], False),  # but must start a word
        ("", ["12000"], False),
        ("Anything", [], False),
        ("Anything", [""], False),
    ],
)
def test_matches_any(answer: str, golds: list[str], expected: bool) -> None:
    assert matches_any(answer, golds) is expected


def test_matches_all() -> None:
    text = "Cancer, autoimmune disorders, rare diseases and inflammatory conditions [1]."
    assert matches_all(text, ["cancer", "autoimmune", "rare", "inflammatory"])
    assert not matches_all("Cancer and rare diseases.", ["cancer", "autoimmune", "rare"])
    assert not matches_all("", ["cancer"])
    assert not matches_all("cancer", [])


@given(st.text(max_size=40))
def test_an_answer_matches_itself(text: str) -> None:
    assert matches_any(text, [text]) is bool(normalise_answer(text))


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("the cat sat", "cat sat on mat", 2 * (1.0 * 0.5) / 1.5),  # p = 2/2, r = 2/4
        ("Paris", "paris.", 1.0),
        ("Paris France", "Lyon", 0.0),
        ("", "", 1.0),
        ("", "x", 0.0),
        ("x", "", 0.0),
        ("a an the", "the", 1.0),  # both empty once articles go
        ("twelve thousand", "12,000", 1.0),
    ],
)
def test_token_f1(prediction: str, reference: str, expected: float) -> None:
    assert token_f1(prediction, reference) == pytest.approx(expected)


@given(st.text(max_size=30), st.text(max_size=30))
def test_token_f1_is_bounded_and_symmetric(a: str, b: str) -> None:
    f1 = token_f1(a, b)
    assert 0.0 <= f1 <= 1.0 and not math.isnan(f1)
    assert f1 == pytest.approx(token_f1(b, a))


# --- sentences and markers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("X is 5. [1]", ["X is 5 [1]."]),  # a marker after the full stop belongs to the sentence before it
        ("X is 5 [1].", ["X is 5 [1]."]),
        ("X is 5.[1] Y is 6 [2].", ["X is 5 [1].", "Y is 6 [2]."]),
        ("X is 5 [1]. Y is 6. [2][3]", ["X is 5 [1].", "Y is 6 [2][3]."]),
        ("X is 5 [1, 3].", ["X is 5 [1][3]."]),
        ("Opened on Jan. 5 [1].", ["Opened on Jan. 5 [1]."]),
        ("Dr. Yuri Pya said 3.5 million [1]. The U.S. agreed [2].",
         ["Dr. Yuri Pya said 3.5 million [1].", "The U.S. agreed [2]."]),
        ("It grew (see e.g. the report) [1].", ["It grew (see e.g. the report) [1]."]),
        ("Drugs for:\n- cancer [1]\n- rare diseases [2]\n",
         ["Drugs for:", "cancer [1]", "rare diseases [2]"]),
        ("1. First [1].\n2. Second [2].", ["First [1].", "Second [2]."]),
        ("X is 5.\n[1]", ["X is 5. [1]"]),
        ("", []),
        ("   \n ", []),
    ],
)  # fmt: skip
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_markers_and_strip() -> None:
    assert markers("X [2] and Y [1, 2] and [10]") == [2, 1, 10]
    assert markers("no markers") == []
    assert strip_markers("X is 5 [1][2].") == "X is 5."
    assert strip_markers("X is 5. [1, 3]") == "X is 5."


# --- evidence ----------------------------------------------------------------------------------------

CLAPNQ_PASSAGE = (
    "Chad DiMera is a fictional character on Days of Our Lives. The role was originated by Casey Jon "
    "Deidrick on June 19, 2009. Billy Flynn currently portrays the role, making his first appearance on "
    "September 12, 2014."
)


def test_evidence_in_with_clapnq_spacing() -> None:
    assert evidence_in(CLAPNQ_PASSAGE, "The role was originated by Casey Jon Deidrick on June 19 , 2009 .")
    assert evidence_in(
        CLAPNQ_PASSAGE, "Billy Flynn currently portrays the role , making his first appearance on"
    )
    # most of the words, reordered: above the 0.8 threshold
    assert evidence_in(CLAPNQ_PASSAGE, "Casey Jon Deidrick originated the role on June 19 , 2009 .")
    assert not evidence_in(CLAPNQ_PASSAGE, "The role was originated by Peter Reckell on May 1 , 1990 .")
    assert not evidence_in(CLAPNQ_PASSAGE, "")
    assert not evidence_in("", "The role was originated")


# --- per-question scores -----------------------------------------------------------------------------

P_PROCEDURES = "The oncology center performs about 12,000 diagnostic and surgical procedures annually."
P_THERAPY = "The center delivers 4,000 radiation and proton therapy courses per year."
P_SCHOOLS = "More than one hundred modern schools were built across the country."

ITEM = {
    "id": "d01",
    "kind": "fact",
    "question": "How many diagnostic and surgical procedures does the oncology center perform annually?",
    "answerable": True,
    "answers": ["12,000", "12000"],
    "evidence": ["about 12,000 diagnostic and surgical procedures annually"],
}
UNANSWERABLE = {
    "id": "d19",
    "kind": "unanswerable",
    "question": "How many autonomous taxis will operate in Astana in 2026?",
    "answerable": False,
}


class WordJudge:
    """Scripted judge: supported when every word of 4+ letters of the claim is in the passage."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def score(self, claim: str, passage: str) -> float:
        self.calls.append((claim, passage))
        words = [w for w in normalise_answer(claim).split() if len(w) >= 4]
        have = set(normalise_answer(passage).split())
        return 1.0 if words and all(w in have for w in words) else 0.0

    def supports(self, claim: str, passage: str) -> bool:
        return self.score(claim, passage) >= 0.5


def cite(n: int, text: str) -> Citation:
    return Citation(
        n, f"p{n}", f"a{n}", "Title", "2025-01-01", "Source", "https://example.org", text, (0, len(text))
    )


def answer(text: str, *passages: str, refused: bool = False) -> Answer:
    return Answer(
        text=text,
        citations=tuple(cite(i, p) for i, p in enumerate(passages, 1)),
        refused=refused,
        question="q",
    )


def test_right_and_cited() -> None:
    a = answer("The oncology center performs about 12,000 procedures annually [1].", P_PROCEDURES)
    s = score_question(ITEM, a, WordJudge(), [P_THERAPY, P_PROCEDURES])
    assert s.correct is True and s.refusal_ok and not s.refused
    assert s.citation_recall == 1.0 and s.citation_precision == 1.0
    assert s.evidence_hit is True and s.faithfulness == 1.0
    assert s.retrieval_recall_at_k == {1: 0.0, 3: 1.0, 5: 1.0, 10: 1.0}
    assert s.mrr == 0.5
    assert s.f1 is None  # no reference
    assert s.reasons == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes, both articles report price cuts [1][2].", "yes"),
        ("No: the Verge says X [1], while Wired says Y [2].", "no"),
        ('  "Yes." [1]', "yes"),
        ("Not consistent: the first says A [1].", None),
        ("November sales rose [1].", None),
        ("Both articles report it [1][2].", None),
        ("", None),
    ],
)
def test_yes_no_verdict(text: str, expected: str | None) -> None:
    assert yes_no(text) == expected


YESNO = {
    "id": "mhr-1",
    "kind": "comparison_query",
    "question": "Does the Verge article report price cuts, while the Wired article reports none?",
    "answerable": True,
    "answers": ["no"],
    "yesno": True,
}


def test_a_yes_no_question_is_scored_on_its_verdict() -> None:
    judge = WordJudge()
    right = score_question(YESNO, answer("No: both report price cuts [1].", P_SCHOOLS), judge)
    assert right.correct is True
    # substring matching would find the gold "no" in "not" and "November"
    wrong = score_question(YESNO, answer("Yes, it is not the same in November [1].", P_SCHOOLS), judge)
    assert wrong.correct is False and any("verdict" in r for r in wrong.reasons)
    hedged = score_question(YESNO, answer("The Verge notes price cuts [1].", P_SCHOOLS), judge)
    assert hedged.correct is False and any("neither yes nor no" in r for r in hedged.reasons)


def test_right_but_mis_cited() -> None:
    # a needless second citation: recall holds, precision halves
    a = answer(
        "The oncology center performs about 12,000 procedures annually [1][2].", P_PROCEDURES, P_THERAPY
    )
    s = score_question(ITEM, a, WordJudge(), [])
    assert s.correct is True
    assert s.citation_recall == 1.0
    assert s.citation_precision == 0.5
    assert any("[2] is not needed" in r for r in s.reasons)
    # the wrong passage only: nothing supports the sentence and the evidence is not cited
    wrong = answer("The oncology center performs about 12,000 procedures annually [1].", P_THERAPY)
    s = score_question(ITEM, wrong, WordJudge(), [P_THERAPY])
    assert s.correct is True
    assert s.citation_recall == 0.0 and s.citation_precision == 0.0
    assert s.evidence_hit is False and s.faithfulness == 0.0
    assert s.retrieval_recall_at_k == {1: 0.0, 3: 0.0, 5: 0.0, 10: 0.0} and s.mrr == 0.0


def test_alce_precision_counts_a_citation_needed_for_the_union() -> None:
    item = {"answerable": True, "answers": ["4,000"]}
    text = "The center performs 12,000 procedures and delivers 4,000 therapy courses [1][2]."
    s = score_question(item, answer(text, P_PROCEDURES, P_THERAPY), WordJudge())
    assert s.citation_recall == 1.0  # neither passage alone, both together
    assert s.citation_precision == 1.0  # each is needed
    assert s.correct is True and s.evidence_hit is None and s.mrr is None


def test_sentences_without_markers_and_dangling_markers() -> None:
    text = "The oncology center performs about 12,000 procedures annually. It has many staff [3]."
    s = score_question(ITEM, answer(text, P_PROCEDURES), WordJudge())
    assert s.citation_recall == 0.0  # one sentence has no marker, the other cites a missing passage
    assert s.citation_precision == 0.0
    assert s.faithfulness == 0.5  # the first sentence is backed by the cited passages
    assert any("no citation" in r for r in s.reasons)
    assert any("[3] points at no citation" in r for r in s.reasons)


def test_refused_when_it_should() -> None:
    s = score_question(
        UNANSWERABLE, answer("The articles do not say.", refused=True), WordJudge(), [P_SCHOOLS]
    )
    assert s.correct is True and s.refused and s.should_refuse and s.refusal_ok
    assert s.citation_recall is None and s.citation_precision is None
    assert s.faithfulness is None and s.evidence_hit is None and s.f1 is None
    assert s.retrieval_recall_at_k is None and s.mrr is None
    assert s.reasons == []


def test_refusal_text_without_the_flag_counts_as_refusal() -> None:
    s = score_question(UNANSWERABLE, answer("The articles do not say."), WordJudge())
    assert s.refused and s.correct is True


def test_refused_wrongly() -> None:
    item = dict(ITEM, reference="About 12,000 procedures a year.")
    s = score_question(item, answer("The articles do not say.", refused=True), WordJudge(), [P_PROCEDURES])
    assert s.correct is False and s.refused and not s.refusal_ok
    assert s.f1 == 0.0
    assert s.evidence_hit is None and s.citation_recall is None
    assert s.retrieval_recall_at_k == {1: 1.0, 3: 1.0, 5: 1.0, 10: 1.0}  # retrieval was fine
    assert any("refused an answerable" in r for r in s.reasons)


def test_answered_when_it_should_refuse() -> None:
    a = answer("More than one hundred modern schools were built [1].", P_SCHOOLS)
    s = score_question(UNANSWERABLE, a, WordJudge())
    assert s.correct is False and not s.refused and not s.refusal_ok
    assert s.citation_recall == 1.0  # well cited, still the wrong behaviour
    assert any("should have refused" in r for r in s.reasons)


def test_partial_refusal_sentence_is_not_a_claim() -> None:
    text = "The oncology center performs 12,000 procedures annually [1]. The articles do not say who runs it."
    s = score_question(ITEM, answer(text, P_PROCEDURES), WordJudge())
    assert not s.refused and s.citation_recall == 1.0 and s.faithfulness == 1.0


def test_wrong_answer_and_answers_all() -> None:
    a = answer("The center performs about 4,000 procedures annually [1].", P_THERAPY)
    s = score_question(ITEM, a, WordJudge())
    assert s.correct is False and any("none of the answers" in r for r in s.reasons)
    item = {"answerable": True, "answers_all": ["cancer", "autoimmune"], "answers": ["cancer"]}
    s = score_question(item, answer("Drugs for cancer [1].", "Drugs for cancer."), WordJudge())
    assert s.correct is False and any("autoimmune" in r for r in s.reasons)


def test_reference_only_question_has_no_correctness_but_f1() -> None:
    item = {"answerable": True, "reference": "The role was originated by Casey Jon Deidrick."}
    s = score_question(
        item, answer("Casey Jon Deidrick originated the role [1].", CLAPNQ_PASSAGE), WordJudge()
    )
    assert s.correct is None
    assert s.f1 == pytest.approx(token_f1("Casey Jon Deidrick originated the role.", item["reference"]))


@pytest.mark.parametrize("text", ["", "   ", "[1]"])
def test_empty_answer_is_a_failure(text: str) -> None:
    s = score_question(dict(ITEM, reference="About 12,000."), answer(text, P_PROCEDURES), WordJudge(), [])
    assert s.correct is False and not s.refused
    assert s.citation_recall == 0.0 and s.citation_precision == 0.0 and s.faithfulness == 0.0
    assert s.f1 == 0.0
    assert "empty answer" in s.reasons
    s = score_question(UNANSWERABLE, answer(text), WordJudge())
    assert s.correct is False and not s.refusal_ok


# --- aggregation -------------------------------------------------------------------------------------


def qs(**kwargs: object) -> QuestionScore:
    base: dict[str, object] = {"correct": None, "refused": False, "should_refuse": False, "refusal_ok": True}
    base.update(kwargs)
    return QuestionScore(**base)  # type: ignore[arg-type]


SCORES = [
    # answerable, right, fully cited, evidence at rank 1
    qs(correct=True, citation_recall=1.0, citation_precision=1.0, evidence_hit=True, faithfulness=1.0,
       f1=0.8, retrieval_recall_at_k={1: 1.0, 3: 1.0}, mrr=1.0),
    # answerable, right, half the citations irrelevant, evidence at rank 3
    qs(correct=True, citation_recall=1.0, citation_precision=0.5, evidence_hit=True, faithfulness=1.0,
       f1=0.4, retrieval_recall_at_k={1: 0.0, 3: 1.0}, mrr=1 / 3),
    # answerable, refused wrongly
    qs(correct=False, refused=True, refusal_ok=False, f1=0.0, retrieval_recall_at_k={1: 0.0, 3: 0.0},
       mrr=0.0),
    # unanswerable, refused
    qs(correct=True, refused=True, should_refuse=True, refusal_ok=True),
    # unanswerable, answered
    qs(correct=False, should_refuse=True, refusal_ok=False, citation_recall=0.5, citation_precision=0.5,
       faithfulness=0.5),
]  # fmt: skip
KINDS = ["fact", "fact", "list", "unanswerable", "false-premise"]
LATENCIES = [(0.1, 1.0), (0.2, 2.0), (0.3, 3.0), (0.4, 4.0), (0.5, 5.0)]


def test_summarise_known_values() -> None:
    out = summarise(SCORES, KINDS, LATENCIES)
    overall = out["overall"]
    assert (overall["n"], overall["n_answerable"], overall["n_unanswerable"]) == (5, 3, 2)
    assert overall["accuracy"] == pytest.approx(2 / 3)
    assert overall["answerable_right_and_cited"] == pytest.approx(1 / 3)
    assert overall["refusal_recall"] == pytest.approx(0.5)
    assert overall["refusal_precision"] == pytest.approx(0.5)  # two refusals, one of them right
    assert overall["wrong_refusal_rate"] == pytest.approx(1 / 3)
    assert overall["citation_recall"] == pytest.approx(2.5 / 3)
    assert overall["citation_precision"] == pytest.approx(2 / 3)
    assert overall["evidence_hit"] == pytest.approx(1.0)
    assert overall["faithfulness"] == pytest.approx(2.5 / 3)
    assert overall["f1"] == pytest.approx(0.4)
    assert overall["recall@1"] == pytest.approx(1 / 3)
    assert overall["recall@3"] == pytest.approx(2 / 3)
    assert overall["mrr"] == pytest.approx((1 + 1 / 3) / 3)
    assert overall["first_token_p50_s"] == pytest.approx(0.3)
    assert overall["first_token_p95_s"] == pytest.approx(0.48)
    assert overall["total_p50_s"] == pytest.approx(3.0)
    assert overall["total_p95_s"] == pytest.approx(4.8)
    fact = out["by_kind"]["fact"]
    assert fact["n"] == 2 and fact["accuracy"] == 1.0 and fact["answerable_right_and_cited"] == 0.5
    assert fact["refusal_recall"] is None and fact["total_p50_s"] == pytest.approx(1.5)
    assert out["by_kind"]["unanswerable"]["refusal_recall"] == 1.0
    assert out["by_kind"]["false-premise"]["refusal_recall"] == 0.0
    assert set(out["by_kind"]) == set(KINDS)


def _values(summary: dict[str, object]) -> list[object]:
    values: list[object] = []
    for value in summary.values():
        values.extend(_values(value) if isinstance(value, dict) else [value])  # type: ignore[arg-type]
    return values


def test_no_nan_anywhere() -> None:
    empty = score_question(ITEM, answer(""), WordJudge(), [])
    refused = score_question(UNANSWERABLE, answer("", refused=True), WordJudge(), [])
    for out in (summarise([empty, refused], ["fact", "unanswerable"], []), summarise([], [], [])):
        for value in _values(out):
            assert value is None or isinstance(value, int | float)
            assert value is None or not math.isnan(float(value))
    assert summarise([empty], ["fact"])["overall"]["accuracy"] == 0.0
    assert summarise([], [])["overall"]["total_p50_s"] is None


def test_summarise_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="kinds"):
        summarise(SCORES, KINDS[:2], [])
    with pytest.raises(ValueError, match="latencies"):
        summarise(SCORES, KINDS, LATENCIES[:2])


def test_metric_registry_covers_the_summary() -> None:
    assert {spec.name for spec in METRICS} >= set(summarise(SCORES, KINDS)["overall"])
    full = set(
        summarise([qs(retrieval_recall_at_k={1: 1.0, 3: 1.0, 5: 1.0, 10: 1.0}, mrr=1.0)], ["x"])["overall"]
    )
    assert {spec.name for spec in METRICS} == full
    assert metric_spec("wrong_refusal_rate").higher_is_better is False
    assert metric_spec("recall@20").higher_is_better is True
    assert metric_spec("n").higher_is_better is None
    with pytest.raises(KeyError, match="accuracy"):
        metric_spec("acuracy")


def test_the_answer_language_is_checked_for_questions_with_a_lang() -> None:
    item = {"question": "Сколько процедур?", "answerable": True, "answers": ["12000"], "lang": "ru"}
    russian = answer("Центр выполняет около 12 000 процедур в год [1].", P_PROCEDURES)
    english = answer("The oncology center performs about 12,000 procedures annually [1].", P_PROCEDURES)
    refused = answer("В статьях об этом не сказано.", refused=True)
    noted = answer("(Перевод не прошёл проверку.) The center performs 12,000 procedures [1].", P_PROCEDURES)
    assert score_question(item, noted, WordJudge()).in_language is False  # the note is not the answer
    assert score_question(item, russian, WordJudge()).in_language is True
    in_english = score_question(item, english, WordJudge())
    assert in_english.in_language is False and any("language" in r for r in in_english.reasons)
    assert score_question(item, refused, WordJudge()).in_language is None  # refusals are not counted
    assert score_question(ITEM, english, WordJudge()).in_language is None  # no `lang`: not checked


def test_scores_are_summarised_by_language_when_a_set_has_more_than_english() -> None:
    ru = QuestionScore(correct=True, refused=False, should_refuse=False, refusal_ok=True, in_language=True)
    kk = QuestionScore(correct=False, refused=False, should_refuse=False, refusal_ok=True, in_language=False)
    summary = summarise([ru, kk, ru], ["fact"] * 3, languages=["ru", "kk", "ru"])
    assert summary["by_lang"]["ru"]["accuracy"] == 1.0 and summary["by_lang"]["kk"]["accuracy"] == 0.0
    assert summary["overall"]["answer_in_language"] == pytest.approx(2 / 3)
    assert "by_lang" not in summarise([ru], ["fact"], languages=["en"])


def test_a_translated_answer_is_judged_on_the_english_answer_the_guards_checked() -> None:
    """A Russian sentence shares no words with the English passage it cites: judged as written it would be
    unsupported; judged as the English answer it translates, it is supported (correctness is read from the
    translation)."""
    russian = "Центр выполняет около 12 000 процедур в год [1]."
    english = "The oncology center performs about 12,000 procedures annually [1]."
    plain = answer(russian, P_PROCEDURES)
    translated = dataclasses.replace(plain, english_text=english)
    item = {**ITEM, "answers": ["12,000"]}
    assert score_question(item, plain, WordJudge()).citation_precision == 0.0
    scored = score_question(item, translated, WordJudge())
    assert scored.correct is True
    assert scored.citation_precision == 1.0 and scored.faithfulness == 1.0


@pytest.mark.parametrize(
    ("text", "gold"),
    [
        ("Over 170 billion tenge are allocated each year [1].", "170"),
        ("Over 170 billion tenge are allocated each year [1].", "170 billion"),
        ("The reserves surpassed 62 billion US dollars [1].", "62"),
        ("It costs 2.5 million euros.", "2,500,000"),
    ],
)
def test_a_figure_matches_with_or_without_its_scale_word(text: str, gold: str) -> None:
    """The gold "170" for "How much money is allocated?" was not found in "170 billion tenge": the answer
    read as 170000000000 only."""
    assert matches_any(text, [gold])
    assert not matches_any("Over 17 billion tenge.", ["170"])
