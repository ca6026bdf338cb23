"""Feedback into the evals: judged turns of a store -> `python -m evals feedback export` -> labelled by
hand -> `python -m evals run` (extractive backend over the seed articles) -> a report showing each
thumbed-down answer then and now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.conversations import ConversationStore
from assistant.types import Answer, Citation
from evals.cli import main
from evals.runner import EvalSet

SURGERIES = "How many high-tech surgeries a year do the hybrid operating rooms enable?"
NITROGEN = "What is the boiling point of liquid nitrogen in kelvin?"
SARBASSOV = "Who outlined plans for a Regional Pharmaceutical Center?"


def _answer(question: str, text: str, cited: bool = False, refused: bool = False) -> Answer:
    citations: tuple[Citation, ...] = ()
    if cited:
        passage = "Professor Dos Sarbassov outlined plans for a Regional Pharmaceutical Center."
        citations = (
            Citation(1, "p1", "a1", "Seed article", "2024-05-01", "seeds", "", passage, (0, len(passage))),
        )
    return Answer(text=text, citations=citations, refused=refused, question=question, backend="local")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data dir whose store holds two judged answers (one thumbed down twice over) and one unjudged."""
    data = tmp_path / "archive"
    store = ConversationStore.in_data_dir(data)
    wrong = store.add_turn(
        "alice", "c1", SURGERIES, [], _answer(SURGERIES, "About 12 surgeries a year [1].", cited=True)
    )
    store.add_turn("alice", "c1", "And the cost?", [], _answer("And the cost?", "Unknown."))  # not judged
    store.rate("alice", wrong.id, -1, "the article says more than 350")
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    invented = store.add_turn(
        "api:0123456789abcdef", "api:0123456789abcdef/x", NITROGEN, history, _answer(NITROGEN, "77 K.")
    )
    store.rate("api:0123456789abcdef", invented.id, -1, "")
    good = store.add_turn("", "c2", SARBASSOV, [], _answer(SARBASSOV, "Dos Sarbassov [1].", cited=True))
    store.rate("", good.id, 1, "right")
    return data


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "questions.jsonl").read_text(encoding="utf-8").splitlines()]


def _write(out: Path, rows: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (out / "questions.jsonl").write_text(text, encoding="utf-8")


def test_export_label_run_and_report(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "feedback-set"
    assert main(["feedback", "export", str(out), "--data-dir", str(data_dir)]) == 0
    assert "3 judged answers (2 thumbed down)" in capsys.readouterr().out
    rows = _rows(out)
    assert [r["question"] for r in rows] == [SURGERIES, NITROGEN, SARBASSOV]  # the judged only, in order
    first = rows[0]
    assert first["kind"] == "feedback" and first["id"].startswith("fb-") and first["history"] == []
    assert first["given_answer"] == "About 12 surgeries a year [1]." and first["given_refused"] is False
    assert first["given_citations"][0]["title"] == "Seed article"
    assert (first["rating"], first["comment"]) == (-1, "the article says more than 350")
    assert rows[1]["history"][0] == {"role": "user", "content": "Hi"}
    assert (rows[2]["rating"], rows[2]["comment"]) == (1, "right")
    assert all("answerable" not in r and "answers" not in r for r in rows)
    serialised = (out / "questions.jsonl").read_text()
    assert "alice" not in serialised and "api:" not in serialised  # no owner leaves the store
    readme = (out / "README.md").read_text()
    assert "answerable" in readme and f"python -m evals run {out}" in readme

    # unlabelled, the run refuses and says what to do
    run_args = ["--backend", "extractive", "--data-dir", str(tmp_path / "evals-data")]
    assert main(["run", str(out), *run_args, "--out", str(tmp_path / "r0")]) == 2
    err = capsys.readouterr().err
    assert "no labels yet" in err and "answerable" in err and rows[0]["id"] in err
    with pytest.raises(ValueError, match="answerable"):
        EvalSet.load(out)

    # the evaluator labels the set; a second export keeps the labels
    rows[0].update(answerable=True, answers=["350"])
    rows[1].update(answerable=False)
    rows[2].update(answerable=True, answers=["Sarbassov"])
    _write(out, rows)
    assert main(["feedback", "export", str(out), "--data-dir", str(data_dir)]) == 0
    assert _rows(out) == rows
    eval_set = EvalSet.load(out)
    assert [q["kind"] for q in eval_set.questions] == ["feedback"] * 3

    run = tmp_path / "run"
    assert main(["run", str(out), *run_args, "--out", str(run)]) == 0
    results = {r["id"]: r for r in map(json.loads, (run / "results.jsonl").read_text().splitlines())}
    assert results[rows[0]["id"]]["score"]["correct"] is True and "350" in results[rows[0]["id"]]["answer"]
    assert results[rows[1]["id"]]["refused"] is True
    for name in ("report.md", "report.html"):
        report = (run / name).read_text(encoding="utf-8")
        assert "Thumbed-down answers, then and now (2)" in report, name
        assert "About 12 surgeries a year [1]." in report and "77 K." in report
        assert "the article says more than 350" in report
        assert "now correct" in report
        section = report.split("Thumbed-down answers")[1].split("Failed questions")[0]
        assert "Dos Sarbassov [1]." not in section  # thumbed up: not in the section


def test_export_without_a_store_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["feedback", "export", str(out), "--data-dir", str(tmp_path / "empty")]) == 2
    assert "holds no conversations" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "empty").exists()
