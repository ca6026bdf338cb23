"""Readers' feedback as an eval set: `python -m evals feedback export OUT_DIR`.

Every answer someone judged (thumbs up or down in the chat UI, `POST /v1/feedback` in the API) becomes a
row of `OUT_DIR/questions.jsonl` in the eval schema: `id`, `question`, `history`, `kind: "feedback"`,
and what the evaluator needs to label it: the answer given then (`given_answer`, `given_citations`,
`given_refused`), the reader's `rating` (1 or -1) and `comment`, when it was asked and by which backend.
The rows carry no labels: an evaluator adds `answerable` (and `answers`, `evidence`, ...) before
`python -m evals run` can score them; `unlabelled` names the rows still waiting, for the run's error.
Exporting again into the same folder keeps the labels already given (matched by `id`).

Deliberately not here: which owner judged what (the rows name no user or key) and the archive the
question was asked of (the set runs over its `corpus/` folder, else the seed articles).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from assistant.conversations import FILE_NAME, ConversationStore, Turn

KIND = "feedback"
LABELS = ("answerable", "answers", "answers_all", "reference", "evidence", "yesno")

README = """\
# Feedback set

Exported by `python -m evals feedback export` on {date}: {n} judged answers ({down} thumbed down, {up}
thumbed up). Each row of `questions.jsonl` holds the question, the conversation before it (`history`),
the answer given then (`given_answer`, `given_citations`, `given_refused`) and the reader's verdict
(`rating`: 1 or -1, `comment`).

## Label it

The rows have no labels yet, and `python -m evals run` refuses the set until every row has them. For each
row add:

- `"answerable": true` when the articles answer the question, with `"answers": ["..."]` (any of these
  strings in the answer makes it correct), optionally `"evidence": ["a sentence of the article"]`;
- `"answerable": false` when they do not: the right answer is a refusal.

Delete rows that are not worth keeping. Exporting again into this folder adds the new judgements and
keeps the labels given here.

## Run it

    python -m evals run {out} --data-dir <the archive's data dir> --out evals/runs/feedback

The set is asked of the articles in `{out}/corpus/` (copy there the articles the questions are about),
or, without that folder, of the seed articles; the run ingests them into a collection of its own under
`<data dir>/evals` and never changes the archive. The report's "Thumbed-down answers" section shows, for
each answer a reader thumbed down, the answer then and the answer now, and whether it is now correct.
"""


def feedback_row(turn: Turn) -> dict[str, Any]:
    """One judged turn as an (unlabelled) eval row."""
    answer = turn.answer
    return {
        "id": f"fb-{turn.id[:12]}",
        "kind": KIND,
        "question": turn.question,
        "history": [dict(m) for m in turn.history],
        "given_answer": str(answer.get("text", "")),
        "given_refused": bool(answer.get("refused", False)),
        "given_citations": [
            {
                key: c.get(key)
                for key in ("n", "title", "url", "published", "source", "supporting_text", "passage_id")
            }
            for c in answer.get("citations") or []
        ],
        "rating": turn.rating,
        "comment": turn.comment,
        "asked": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(turn.asked)),
        "backend": str(answer.get("backend") or turn.settings.get("backend") or ""),
        "turn_id": turn.id,
    }


def _existing(file: Path) -> dict[str, dict[str, Any]]:
    if not file.is_file():
        return {}
    rows = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {str(row.get("id")): row for row in rows}


def export(data_dir: Path, out: Path) -> list[dict[str, Any]]:
    """Write `out/questions.jsonl` (every judged answer of the data dir's store, oldest judgement first,
    with the labels of an earlier export of the same rows kept) and `out/README.md`; returns the rows."""
    if not (data_dir / FILE_NAME).is_file():
        raise FileNotFoundError(f"{data_dir} holds no conversations ({FILE_NAME}): nothing was judged there")
    turns = ConversationStore.in_data_dir(data_dir).feedback()
    out.mkdir(parents=True, exist_ok=True)
    file = out / "questions.jsonl"
    labelled = _existing(file)
    rows = []
    for turn in turns:
        row = feedback_row(turn)
        earlier = labelled.get(row["id"], {})
        row.update({key: earlier[key] for key in LABELS if key in earlier})
        rows.append(row)
    with open(file, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    down = sum(1 for r in rows if r["rating"] == -1)
    (out / "README.md").write_text(
        README.format(date=time.strftime("%Y-%m-%d"), n=len(rows), down=down, up=len(rows) - down, out=out),
        encoding="utf-8",
    )
    return rows


def unlabelled(set_path: Path) -> list[str]:
    """The ids of exported feedback rows of a set that have no `answerable` label yet."""
    file = set_path / "questions.jsonl" if set_path.is_dir() else set_path
    try:
        rows = _existing(file)
    except ValueError:
        return []  # not JSON: the set's loader says where
    return [row_id for row_id, row in rows.items() if row.get("kind") == KIND and "answerable" not in row]


__all__ = ["KIND", "export", "feedback_row", "unlabelled"]
