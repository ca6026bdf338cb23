"""The eval report, run comparison and `python -m evals` CLI; no LLM (the end-to-end run is extractive)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from evals.cli import main
from evals.compare import compare
from evals.report import format_delta, format_value, is_failure, write_report
from evals.runner import EvalSet, QuestionResult, summarise_results, write_results

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "<script>alert(1)</script>"
CALIBRATION = {
    "n": 600,
    "accuracy": 0.85,
    "balanced_accuracy": 0.85,
    "auc": 0.86,
    "threshold": 0.85,
    "best_threshold": 1.0,
    "best_accuracy": 0.878,
    "claim_form": "answer",
}


def _score(**overrides: Any) -> dict[str, Any]:
    score: dict[str, Any] = {
        "correct": True,
        "refused": False,
        "should_refuse": False,
        "refusal_ok": True,
        "citation_recall": 1.0,
        "citation_precision": 1.0,
        "evidence_hit": True,
        "faithfulness": 1.0,
        "f1": None,
        "retrieval_recall_at_k": {"1": 1.0, "3": 1.0, "5": 1.0, "10": 1.0},
        "mrr": 1.0,
        "reasons": [],
    }
    score.update(overrides)
    return score


def _result(qid: str, question: str, answer: str, **overrides: Any) -> QuestionResult:
    fields: dict[str, Any] = {
        "id": qid,
        "kind": "fact",
        "question": question,
        "history": [],
        "answerable": True,
        "answer": answer,
        "refused": False,
        "standalone_question": question,
        "citations": [
            {
                "n": 1,
                "title": "Oncology center",
                "published": "2026-01-01",
                "passage_id": f"p-{qid}",
                "text": f"Intro. {answer.replace(' [1]', '')} Outro.",
                "supporting_text": answer.replace(" [1]", ""),
            }
        ],
        "retrieved": [f"p-{qid}"],
        "notes": [],
        "score": _score(),
        "first_token_s": 0.4,
        "total_s": 0.9,
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }
    fields.update(overrides)
    return QuestionResult(**fields)


def _results() -> list[QuestionResult]:
    passing = _result("ok1", "How many transplants does the center perform?", "Up to 330 transplants [1].")
    failing = _result(
        "bad1",
        f"Who wrote {SCRIPT} in the article?",
        f"The article says {SCRIPT} was written by nobody [1].",
        history=[{"role": "user", "content": "Tell me about the center."}],
        citations=[
            {
                "n": 1,
                "title": "A <b>hostile</b> article",
                "published": "",
                "passage_id": "p-bad1",
                "text": f"Before. The page embeds {SCRIPT} in its body. After.",
                "supporting_text": f"The page embeds {SCRIPT} in its body.",
            }
        ],
        score=_score(
            correct=False,
            citation_precision=0.5,
            reasons=["none of the answers ['Smith'] is in the answer", "sentence 1: citation [1] not needed"],
        ),
        first_token_s=1.2,
        total_s=2.5,
    )
    refused = _result(
        "unans1",
        "What will the weather be tomorrow?",
        "The articles do not say.",
        kind="unanswerable",
        answerable=False,
        refused=True,
        citations=[],
        score=_score(
            correct=True,
            refused=True,
            should_refuse=True,
            citation_recall=None,
            citation_precision=None,
            evidence_hit=None,
            faithfulness=None,
            retrieval_recall_at_k=None,
            mrr=None,
        ),
    )
    return [passing, failing, refused]


def _summary(results: list[QuestionResult], **extra: Any) -> dict[str, Any]:
    summary = summarise_results(results)
    summary.update({"set": "handmade", "backend": "extractive", "settings": {"max_sources": 4}, **extra})
    return summary


# ---------------------------------------------------------------------------------------------------------
# Report


def test_formatting() -> None:
    assert format_value("accuracy", 0.8421) == "84.2%"
    assert format_value("total_p50_s", 0.8157) == "0.82 s"
    assert format_value("n", 23) == "23"
    assert format_value("f1", None) == "–"
    assert format_value("mrr", 0.8277) == "0.828"
    assert format_delta("accuracy", 0.9, 0.8) == "+10.0 pp"
    assert format_delta("total_p50_s", 1.0, 1.5) == "-0.50 s"
    assert format_delta("accuracy", None, 0.8) == "–"


def test_is_failure() -> None:
    passing, failing, refused = _results()
    assert not is_failure(passing) and not is_failure(refused)
    assert is_failure(failing)
    assert is_failure(replace(passing, score=_score(evidence_hit=False)))
    assert is_failure(replace(passing, score=_score(refusal_ok=False)))


def test_write_report_escapes_and_lists_failures(tmp_path: Path) -> None:
    results = _results()
    baseline = _summary(results)
    baseline["overall"] = {**baseline["overall"], "accuracy": 0.25}
    questions = [{"id": "bad1", "answers": ["Smith"], "evidence": ["written by Smith"]}]
    out = tmp_path / "report"
    write_report(out, _summary(results), results, CALIBRATION, baseline, questions=questions)

    for name in ("report.md", "report.html", "score_by_kind.png", "latency.png"):
        assert (out / name).is_file(), name
    for name in ("score_by_kind.png", "latency.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;" in page
    assert "<script" not in page.lower()
    assert "&lt;b&gt;hostile&lt;/b&gt;" in page
    assert "http://" not in page and "https://" not in page
    assert "data:image/png;base64," in page
    assert "handmade" in page and "extractive" in page
    assert "answerable questions answered right" in page  # descriptions from METRICS
    assert "±15 pp" in page  # the judge's error bar
    assert "Ours vs baseline" in page and "better" in page

    failures = page.split('<section id="failures">', 1)[1].split("</section>", 1)[0]
    assert "bad1" in failures
    assert "Tell me about the center." in failures  # the history
    assert "Smith" in failures  # the gold answer
    assert "citation [1] not needed" in failures  # the reasons
    assert "<mark>The page embeds &lt;script&gt;alert(1)&lt;/script&gt; in its body.</mark>" in failures
    assert "ok1" not in failures and "330 transplants" not in failures
    assert "unans1" not in failures

    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    md_failures = markdown.split("## Failed questions", 1)[1]
    assert "bad1" in md_failures and "ok1" not in md_failures
    assert "score_by_kind.png" in markdown and "latency.png" in markdown
    assert "| accuracy | 50.0% (1/2) |" in markdown  # one of the two answerable questions is right


def test_markdown_table_cells_escape_pipes(tmp_path: Path) -> None:
    results = _results()
    summary = _summary(results)
    summary["by_kind"]["a|b"] = summary["by_kind"].pop("fact")
    write_report(tmp_path, summary, results, None)
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "a\\|b" in markdown
    assert "No judge calibration" in markdown


def test_write_report_with_no_results(tmp_path: Path) -> None:
    write_report(tmp_path, {"overall": {}, "by_kind": {}}, [], None)
    assert "Failed questions (0)" in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert (tmp_path / "latency.png").is_file()


def test_report_names_the_judge_and_says_when_it_is_uncalibrated(tmp_path: Path) -> None:
    note = "not calibrated yet: run `python -m evals.calibrate --judge local --save`"
    write_report(tmp_path / "a", {"overall": {}, "by_kind": {}}, [], {"judge": "local-m", "note": note})
    text = (tmp_path / "a" / "report.md").read_text(encoding="utf-8")
    assert "judge (local-m), which has no calibration" in text and "--judge local --save" in text
    calibrated = {"judge": "local-m", "n": 200, "accuracy": 0.8, "balanced_accuracy": 0.8, "auc": 0.8}
    write_report(tmp_path / "b", {"overall": {}, "by_kind": {}}, [], calibrated)
    text = (tmp_path / "b" / "report.md").read_text(encoding="utf-8")
    assert "judge (local-m). On HaluEval QA (n=200 cases)" in text and "±20 pp" in text


# ---------------------------------------------------------------------------------------------------------
# Compare


def _write_run(folder: Path, results: list[QuestionResult], **overall: Any) -> Path:
    summary = _summary(results)
    summary["overall"].update(overall)
    write_results(folder, results)
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder


def test_compare_shows_metric_deltas_and_changed_questions(tmp_path: Path) -> None:
    before = _results()
    fixed = replace(
        before[1], answer="It was written by Smith [1].", score=_score(reasons=[], citation_precision=1.0)
    )
    after = [before[0], fixed, before[2]]
    a = _write_run(tmp_path / "a", before)
    b = _write_run(tmp_path / "b", after, total_p50_s=3.0)
    text = compare(a, b)
    assert "accuracy" in text and "50.0%" in text and "100.0%" in text
    accuracy = next(line for line in text.splitlines() if line.startswith("accuracy "))
    assert "+50.0 pp" in accuracy and accuracy.rstrip().endswith("better")
    latency = next(line for line in text.splitlines() if line.startswith("total_p50_s"))
    assert latency.rstrip().endswith("worse")
    assert "changed: 1 of 3" in text
    assert "+ bad1" in text and "correct False -> True" in text and "citation_precision 50% -> 100%" in text
    assert "It was written by Smith [1]." in text
    assert "ok1" not in text


def test_compare_multi_set_folders_match_by_name(tmp_path: Path) -> None:
    results = _results()
    _write_run(tmp_path / "a" / "smoke", results)
    _write_run(tmp_path / "a" / "only_a", results)
    _write_run(tmp_path / "b" / "smoke", results, accuracy=0.0)
    text = compare(tmp_path / "a", tmp_path / "b")
    assert "== smoke ==" in text and "only_a" in text and "Only in A" in text
    assert "-50.0 pp" in text
    with pytest.raises(FileNotFoundError):
        compare(tmp_path / "a", tmp_path / "missing")


def test_cli_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _results()
    a = _write_run(tmp_path / "a", results)
    b = _write_run(tmp_path / "b", results, accuracy=1.0)
    assert main(["compare", str(a), str(b)]) == 0
    assert "+50.0 pp" in capsys.readouterr().out
    assert main(["compare", str(a), str(tmp_path / "nothing")]) == 2


# ---------------------------------------------------------------------------------------------------------
# End to end: the smoke set with the extractive backend (the real embedder, no chat model)


def test_smoke_set_evidence_is_verbatim() -> None:
    seeds = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))]
    rows = EvalSet.load(ROOT / "evals/sets/smoke").questions
    assert len(rows) == 12 and sum(r["answerable"] for r in rows) == 8
    for row in rows:
        for evidence in row.get("evidence", []):
            assert any(evidence in seed for seed in seeds), (row["id"], evidence)


def test_cli_run_smoke_writes_report_and_gates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    smoke = str(ROOT / "evals/sets/smoke")
    common = ["--backend", "extractive", "--data-dir", str(tmp_path / "d")]
    out = tmp_path / "run"
    code = main(["run", smoke, *common, "--out", str(out), "--fail-under", "refusal_recall=0.0"])
    assert code == 0
    for name in ("results.jsonl", "summary.json", "report.md", "report.html"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["n"] == 12
    assert summary["judge"]["n"] > 0 and 0.5 < summary["judge"]["auc"] <= 1.0
    assert summary["judge"]["judge"].startswith("heuristic")
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out

    out2 = tmp_path / "run2"
    assert main(["run", smoke, *common, "--out", str(out2), "--fail-under", "accuracy=1.01"]) == 1
    assert "gate failed" in capsys.readouterr().err


def test_cli_run_with_an_llm_judge_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evals.judge import LLMJudge

    asked: list[str] = []
    monkeypatch.setattr("evals.judge.CALIBRATION_DIR", tmp_path / "none")
    monkeypatch.setattr(
        "evals.judge.build_judge",
        lambda kind, settings, chat_model=None: LLMJudge(lambda m: asked.append(kind) or "no"),
    )
    out = tmp_path / "run"
    args = ["run", str(ROOT / "evals/sets/smoke"), "--backend", "extractive", "--limit", "3"]
    assert main([*args, "--data-dir", str(tmp_path / "d"), "--out", str(out), "--judge", "openai"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert asked and set(asked) == {"openai"}
    assert summary["overall"]["citation_precision"] == 0.0  # the judge said no to every citation
    assert summary["judge"]["judge"].startswith("openai-") and "not calibrated" in summary["judge"]["note"]


def test_cli_unknown_gate_metric_lists_valid_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    args = ["--backend", "extractive", "--out", str(out), "--data-dir", str(tmp_path / "d")]
    code = main(["run", str(ROOT / "evals/sets/smoke"), *args, "--fail-under", "acuracy=0.5"])
    assert code == 2
    err = capsys.readouterr().err
    assert "acuracy" in err and "accuracy" in err and "refusal_recall" in err
    assert not out.exists()


def test_a_set_collection_built_by_another_embedder_is_reembedded(tmp_path: Path) -> None:
    """A set's own collection is a cache: one left by the MiniLM embedder is re-embedded, not refused."""
    from assistant import Settings
    from ingest import ingest_paths
    from ingest.embedding import E5_MODEL_ID, MiniLMEmbedding
    from ingest.store import PassageStore

    corpus = tmp_path / "set" / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "a.md").write_text("# Astana opens a bridge\n\nThe bridge over the Ishim opened on Monday.\n")
    (tmp_path / "set" / "questions.jsonl").write_text('{"question": "What opened?", "answerable": true}\n')
    eval_set = EvalSet.load(tmp_path / "set")
    settings = eval_set.archive_settings(Settings(data_dir=tmp_path / "data"))
    ingest_paths([corpus], settings, embedder=MiniLMEmbedding())
    assert PassageStore(settings).vector_space() != E5_MODEL_ID
    eval_set.ingest(settings)
    assert PassageStore(settings).vector_space() == E5_MODEL_ID
