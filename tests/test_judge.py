"""evals.judge and evals.calibrate: the heuristic judge, the LLM judge with a scripted chat, calibration."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from assistant.settings import Settings
from evals.calibrate import Calibration, auc, best_threshold, calibrate, cases, load_rows
from evals.calibrate import main as calibrate_main
from evals.judge import (
    DEFAULT_THRESHOLD,
    PROMPT_PATH,
    HeuristicJudge,
    Judge,
    LLMJudge,
    PromptError,
    build_judge,
    calibration_path,
    judge_id,
    load_prompt,
    parse_verdict,
    stored_calibration,
)

from .conftest import ScriptedChat

HALUEVAL = Path(__file__).resolve().parent.parent / "evals" / "calibration" / "halueval_qa_sample.jsonl"

PASSAGE = (
    "ASTANA. The National Scientific Oncology Center performs about 12,000 diagnostic and surgical "
    "procedures annually, said Professor Dos Sarbassov. The center also delivers 4,000 radiation and proton "
    "therapy courses per year, 24 percent more than in 2023."
)


# --- heuristic judge ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def judge() -> HeuristicJudge:
    return HeuristicJudge()


def test_is_a_judge(judge: HeuristicJudge) -> None:
    assert isinstance(judge, Judge)
    assert isinstance(LLMJudge(lambda messages: "yes"), Judge)
    assert judge.threshold == DEFAULT_THRESHOLD


@pytest.mark.parametrize(
    "claim",
    [
        "Professor Dos Sarbassov said the center performs about 12,000 procedures annually [1].",
        "The oncology center performs about twelve thousand diagnostic procedures annually.",
        "The center delivers 4,000 proton therapy courses per year [2].",
        "The center delivered 24% more therapy courses than in 2023.",
    ],
)
def test_supported_claims(judge: HeuristicJudge, claim: str) -> None:
    assert judge.supports(claim, PASSAGE), judge.score(claim, PASSAGE)
    assert 0.0 <= judge.score(claim, PASSAGE) <= 1.0


@pytest.mark.parametrize(
    ("claim", "why"),
    [
        ("Professor Dos Sarbassov said the center performs about 15,000 procedures annually [1].", "number"),
        (
            "The center delivers 4,000 proton therapy courses per year, 30 percent more than in 2023.",
            "number",
        ),
        ("The center performed about 12,000 procedures annually in 2019.", "year"),
        ("Professor Dos Baimukhanov said the center performs about 12,000 procedures annually.", "name"),
        ("Minister Yerbol Myrzabosynov said the center performs about 12,000 procedures annually.", "name"),
        ("The Winter Olympic Games will be held in Italy.", "unrelated"),
        ("Farmers expect a record wheat harvest this autumn.", "unrelated"),
    ],
)
def test_unsupported_claims(judge: HeuristicJudge, claim: str, why: str) -> None:
    assert not judge.supports(claim, PASSAGE), (why, judge.score(claim, PASSAGE))


def test_a_swapped_number_scores_zero(judge: HeuristicJudge) -> None:
    right = "The center performs about 12,000 procedures annually."
    assert judge.score(right, PASSAGE) == 1.0
    assert judge.score(right.replace("12,000", "13,000"), PASSAGE) == 0.0


@pytest.mark.parametrize("claim", ["", "   ", "[1]", "Yes.", "It is."])
def test_nothing_checkable_is_unsupported(judge: HeuristicJudge, claim: str) -> None:
    assert judge.score(claim, PASSAGE) == 0.0
    assert not judge.supports(claim, PASSAGE)


def test_empty_passage(judge: HeuristicJudge) -> None:
    assert judge.score("The center performs about 12,000 procedures.", "") == 0.0


def _fake_embed(texts: list[str]) -> np.ndarray:
    """Deterministic unit vectors from a hash (a stand-in for MiniLM)."""
    rows = []
    for text in texts:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).normal(size=8)
        rows.append(v / np.linalg.norm(v))
    return np.array(rows)


def test_embeddings_only_break_ties() -> None:
    calls: list[int] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return _fake_embed(texts)

    judge = HeuristicJudge(embed=embed)
    right = "The center performs about 12,000 procedures annually."
    plain = HeuristicJudge().score(right, PASSAGE)
    mixed = judge.score(right, PASSAGE)
    assert abs(mixed - plain) <= judge.embed_weight + 1e-9
    assert judge.score(right.replace("12,000", "13,000"), PASSAGE) == 0.0  # numbers stay a hard gate
    judge.prime([right, PASSAGE, "another text"])
    before = sum(calls)
    judge.score(right, PASSAGE)
    assert sum(calls) == before  # cached


# --- LLM judge ---------------------------------------------------------------------------------------


def test_llm_judge_parses_replies() -> None:
    chat = ScriptedChat("Yes.", "no", "maybe?", "", "No, it does not.", "  YES - the passage says so")
    judge = LLMJudge.from_model(chat, "llm")
    claim = "The center performs 12,000 procedures [1]."
    verdicts = [judge.supports(claim, f"{PASSAGE} ({i})") for i in range(6)]  # a new pair each time
    assert verdicts == [True, False, False, False, False, True]
    prompt = chat.prompts[0][0]["content"]
    assert PASSAGE in prompt and "The center performs 12,000 procedures." in prompt and "[1]" not in prompt
    assert chat.prompts[0][0]["role"] == "user"


def test_llm_judge_score() -> None:
    judge = LLMJudge.from_model(ScriptedChat("yes", "I cannot tell"), "llm")
    assert judge.score("claim", "passage") == 1.0
    assert judge.score("claim", "another passage") == 0.0


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [("Yes.", True), ("yes", True), ("**Yes**", True), ("No.", False), ("no", False), ("maybe?", None),
     ("", None), ("Yesterday", None), ("The answer is yes", None)],
)  # fmt: skip
def test_parse_verdict(reply: str, verdict: bool | None) -> None:
    assert parse_verdict(reply) is verdict


def test_prompt_file(tmp_path: Path) -> None:
    template = load_prompt()
    assert PROMPT_PATH.parent.name == "prompts"
    assert "{passage}" in template and "{claim}" in template
    bad = tmp_path / "judge.txt"
    bad.write_text("Passage: {passage}\nAnswer yes or no.")
    with pytest.raises(PromptError, match="claim"):
        load_prompt(bad)
    bad.write_text("{passage} {claim} {question}")
    with pytest.raises(PromptError, match="question"):
        load_prompt(bad)
    with pytest.raises(PromptError, match="cannot be read"):
        load_prompt(tmp_path / "missing.txt")


# --- calibration -------------------------------------------------------------------------------------

SYNTHETIC = [
    {
        "knowledge": "The Timbarra Gold Mine is at the intersection of the New England and Bruxner Highways.",
        "question": "The mine is at the intersection of New England and what?",
        "right_answer": "Bruxner Highways",
        "hallucinated_answer": "The mine is at the intersection of the New England and Pacific Highways.",
    },
    {
        "knowledge": "Heinrich Himmler joined the SS in 1925 and later led it.",
        "question": "What year did Himmler join the SS?",
        "right_answer": "1925",
        "hallucinated_answer": "Heinrich Himmler joined the SS around 1927.",
    },
    {
        "knowledge": "Grandaddy is an American indie rock band from Modesto, California.",
        "question": "Which band is from California?",
        "right_answer": "Grandaddy is from Modesto, California",
        "hallucinated_answer": "Cave In is the band from California.",
    },
]


def test_auc_and_best_threshold_known_values() -> None:
    assert auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)
    assert auc([0.5, 0.5], [True, False]) == pytest.approx(0.5)
    assert auc([0.9, 0.1], [True, False]) == 1.0
    assert auc([0.1, 0.9], [True, False]) == 0.0
    assert auc([0.3, 0.4], [True, True]) == 0.5  # one class only
    assert best_threshold([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == (0.35, 0.75)
    assert best_threshold([0.2, 0.9], [False, True]) == (0.9, 1.0)


def test_calibration_on_synthetic_rows() -> None:
    result = calibrate(HeuristicJudge(), SYNTHETIC)
    assert isinstance(result, Calibration)
    assert result.n == 6
    assert result.auc == 1.0
    assert result.accuracy == 1.0 and result.balanced_accuracy == 1.0
    assert result.best_accuracy == 1.0
    assert result.threshold == DEFAULT_THRESHOLD
    assert result.claim_form == "answer"
    assert result.to_dict()["auc"] == 1.0
    # an always-yes judge: half right, no ranking
    always = calibrate(LLMJudge(lambda messages: "yes"), SYNTHETIC)
    assert (always.accuracy, always.balanced_accuracy, always.auc) == (0.5, 0.5, 0.5)


def test_llm_judge_asks_once_per_case_and_pair() -> None:
    chat = ScriptedChat(*["yes", "no"] * 3)
    judge = LLMJudge.from_model(chat, "scripted")
    result = calibrate(judge, SYNTHETIC)  # 6 cases: one model call each, none repeated for `supports`
    assert len(chat.prompts) == 6 and not chat.replies
    assert result.judge == "scripted" and result.accuracy == 1.0
    # the same claim and passage again (markers and spacing aside): the cached verdict, no call
    claim, passage, _ = cases(SYNTHETIC)[0]
    assert judge.supports(f" {claim} [1]", passage + "  ")
    assert len(chat.prompts) == 6


def test_judges_by_name_and_their_stored_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(llm_model="my-model")
    assert isinstance(build_judge("heuristic", settings), HeuristicJudge)
    assert judge_id("local", settings).startswith("local-qwen2.5")
    assert judge_id("openai", settings) == "openai-my-model"
    with pytest.raises(ValueError, match="unknown judge"):
        judge_id("oracle", settings)

    class Model:  # the generator's model is reused, not loaded a second time
        name = "local"

        def complete(self, messages: list[dict[str, str]], *, max_tokens: int) -> str:
            return "Yes, it does."

    judge = build_judge("local", settings, chat_model=Model())  # type: ignore[arg-type]
    assert isinstance(judge, LLMJudge) and judge.supports("claim", "passage")

    monkeypatch.setattr("evals.judge.CALIBRATION_DIR", tmp_path)
    assert stored_calibration("openai-my/model") is None
    assert calibration_path("openai-my/model").parent == tmp_path
    assert "/" not in calibration_path("openai-my/model").name
    monkeypatch.setattr("evals.calibrate.build_judge", lambda kind, s: LLMJudge(lambda m: "yes"))
    assert calibrate_main(["--judge", "openai", "--limit", "3", "--save"]) == 0
    saved = stored_calibration(judge_id("openai", Settings()))
    assert saved is not None and saved["n"] == 6 and saved["rows"] == 3 and saved["accuracy"] == 0.5


def test_claim_forms() -> None:
    row = SYNTHETIC[1]
    assert cases([row])[0] == ("1925", row["knowledge"], True)
    claim, _, label = cases([row], claim="question+answer")[1]
    assert (
        claim == "What year did Himmler join the SS? Heinrich Himmler joined the SS around 1927."
        and not label
    )
    with pytest.raises(ValueError):
        calibrate(HeuristicJudge(), [])


@pytest.mark.skipif(not HALUEVAL.is_file(), reason="the shared HaluEval sample is not here")
def test_heuristic_judge_on_the_halueval_sample() -> None:
    result = calibrate(HeuristicJudge(), load_rows(HALUEVAL))
    assert result.n == 600
    # measured: accuracy 0.850, AUC 0.860 (see evals/judge.py)
    assert result.accuracy >= 0.82
    assert result.auc >= 0.83
