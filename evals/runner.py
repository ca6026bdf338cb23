"""Running a set: ingest its corpus into a collection of its own, ask every question, score every answer.

A set is a folder with `questions.jsonl` and optionally `corpus/`. Sets without a corpus are asked of the
seed articles (`seeds/`), ingested into a data dir of their own so a run never depends on, or changes,
the user's archive. Everything a person needs to see why a question failed goes into `results.jsonl`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assistant import Answer, Assistant, Settings
from assistant.errors import AssistantError
from ingest.store import PassageStore

from .judge import HeuristicJudge, Judge
from .metrics import score_question, summarise

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@dataclass(frozen=True)
class EvalSet:
    """An eval set as read from its folder: `EvalSet.load` is the one reader of `questions.jsonl` (the run,
    the benchmarks and the load test all take their questions from it)."""

    name: str
    path: Path
    questions: list[dict[str, Any]]
    corpus: Path | None

    @classmethod
    def load(cls, path: Path) -> EvalSet:
        """The set in folder `path` (or the `questions.jsonl` file itself): every row checked for
        `question` and `answerable`, given an `id` (q<line>) and a `kind` when it has none."""
        path = Path(path)
        file = path / "questions.jsonl" if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"{path} is not an eval set: it has no questions.jsonl")
        questions = []
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{file}:{number}: not JSON: {exc}") from exc
            if "question" not in row or "answerable" not in row:
                raise ValueError(f"{file}:{number}: needs 'question' and 'answerable'")
            row.setdefault("id", f"q{number}")
            row.setdefault("kind", "fact" if row["answerable"] else "unanswerable")
            questions.append(row)
        corpus = file.parent / "corpus"
        return cls(file.parent.name, file.parent, questions, corpus if corpus.is_dir() else None)

    def archive_settings(self, base: Settings) -> Settings:
        """Settings pointing at this set's own collection (in `<data dir>/evals`)."""
        source = self.corpus or SEEDS
        digest = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:8]
        return base.model_copy(
            update={"data_dir": base.data_dir / "evals", "collection": f"eval-{self.name[:40]}-{digest}"}
        )

    def ingest(self, settings: Settings, progress: bool = False) -> None:
        """Bring the set's own collection up to date: a cache, so one built by another embedder is
        re-embedded rather than refused."""
        from ingest import ingest_paths
        from ingest.embedding import build_embedder
        from ingest.errors import EmbedderMismatchError
        from ingest.reembed import reembed

        try:
            PassageStore(settings).check_vector_space(build_embedder(settings).model_id)
        except EmbedderMismatchError:
            reembed(settings, wait=True, progress=progress)
        report = ingest_paths([self.corpus or SEEDS], settings, prune=True, wait=True, progress=progress)
        if report.failed:
            raise AssistantError(f"the corpus of {self.name} did not ingest cleanly: {report.failed[:3]}")


@dataclass(frozen=True)
class QuestionResult:
    id: str
    kind: str
    question: str
    history: list[dict[str, str]]
    answerable: bool
    answer: str
    refused: bool
    standalone_question: str
    citations: list[dict[str, Any]]
    retrieved: list[str]
    notes: list[str]
    score: dict[str, Any]
    first_token_s: float
    total_s: float
    prompt_tokens: int
    completion_tokens: int
    error: str | None = None
    answer_check: float | None = None  # the model's P(the answer answers the question), when checked
    lang: str = "en"  # the question's language (the set's `lang`)
    english_text: str = ""  # the checked English answer a translated answer translates (what is judged)


def run_set(
    eval_set: EvalSet,
    bot: Assistant,
    judge: Judge | None = None,
    limit: int | None = None,
) -> Iterator[QuestionResult]:
    """Ask and score every question of the set (the first `limit`), yielding results as they come."""
    judge = judge or HeuristicJudge()
    store: PassageStore = bot.retriever.store
    for row in eval_set.questions[:limit]:
        started = time.perf_counter()
        error = None
        try:
            answer = bot.ask(row["question"], row.get("history"))
        except AssistantError as exc:
            error = f"{type(exc).__name__}: {exc}"
            answer = Answer(text="", citations=(), refused=False, question=row["question"])
        retrieved = [p.text for p in store.get_passages(list(answer.retrieved))]
        score = score_question(row, answer, judge, retrieved)
        result = QuestionResult(
            id=str(row["id"]),
            kind=str(row.get("kind", "")),
            lang=str(row.get("lang") or "en"),
            question=row["question"],
            history=list(row.get("history") or []),
            answerable=bool(row["answerable"]),
            answer=answer.text,
            english_text=answer.english_text,
            refused=answer.refused,
            standalone_question=answer.standalone_question,
            citations=[
                {
                    "n": c.n,
                    "title": c.title,
                    "published": c.published,
                    "passage_id": c.passage_id,
                    "text": c.text,
                    "supporting_text": c.supporting_text,
                }
                for c in answer.citations
            ],
            retrieved=list(answer.retrieved),
            notes=[str(note) for note in answer.notes],
            score=_score_dict(score),
            first_token_s=answer.timings.first_token,
            total_s=answer.timings.total or (time.perf_counter() - started),
            answer_check=answer.answer_check,
            prompt_tokens=answer.timings.prompt_tokens,
            completion_tokens=answer.timings.completion_tokens,
            error=error,
        )
        yield result


def _score_dict(score: Any) -> dict[str, Any]:
    data = asdict(score)
    if data.get("retrieval_recall_at_k"):
        data["retrieval_recall_at_k"] = {str(k): v for k, v in data["retrieval_recall_at_k"].items()}
    return data


def summarise_results(results: list[QuestionResult]) -> dict[str, Any]:
    from .metrics import QuestionScore

    scores = []
    for r in results:
        data = dict(r.score)
        if data.get("retrieval_recall_at_k"):
            data["retrieval_recall_at_k"] = {int(k): v for k, v in data["retrieval_recall_at_k"].items()}
        scores.append(QuestionScore(**data))
    return summarise(
        scores,
        [r.kind for r in results],
        [(r.first_token_s, r.total_s) for r in results],
        [r.lang for r in results],
    )


def write_results(out: Path, results: list[QuestionResult]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "w", encoding="utf-8") as handle:
        for r in results:
            handle.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")


def load_results(path: Path) -> list[QuestionResult]:
    file = path / "results.jsonl" if path.is_dir() else path
    return [
        QuestionResult(**json.loads(line)) for line in file.read_text(encoding="utf-8").splitlines() if line
    ]
