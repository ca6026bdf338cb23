"""The llama-index baseline of the evals: the stock VectorStoreIndex + CitationQueryEngine over our archive.

Fast tests plug a scripted chat model into the real pipeline (real Chroma collection, real embedder, real
llama-index retriever and query engine); one slow test asks the real local model one question.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant import Settings
from assistant.generation import LocalChatModel
from evals.baseline import (
    BACKEND,
    BaselineAssistant,
    ingest_default,
    is_refusal,
    normalise_markers,
)
from evals.cli import main
from ingest.embedding import ArchiveEmbedding

from .conftest import ScriptedChat

ROOT = Path(__file__).resolve().parent.parent
JOBS = "How many permanent jobs is the biopharma project expected to create?"


def _baseline(
    seeded_dir: Path, embedder: ArchiveEmbedding, reply: str
) -> tuple[BaselineAssistant, ScriptedChat]:
    chat = ScriptedChat(reply)  # the baseline asks the model once per question
    return BaselineAssistant(Settings(data_dir=seeded_dir), chat, embedder), chat


def _sources(prompt: str) -> list[str]:
    """The passage texts of the stock prompt, by source number (after the worked example)."""
    body = prompt.split("Below are several numbered sources of information:", 1)[1]
    chunks = body.split("Source ")[1:]
    return [chunk.split("\n", 1)[1] for chunk in chunks]


def test_answer_maps_markers_to_stored_passages(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    bot, chat = _baseline(
        seeded_dir, embedder, "The project is expected to create more than 180 permanent jobs [1]."
    )
    answer = bot.ask(JOBS)
    assert not answer.refused and answer.backend == BACKEND
    assert answer.text == "The project is expected to create more than 180 permanent jobs [1]."
    # the stock retriever, top 4, over our collection: ids are our passage ids, found by the store
    assert len(answer.retrieved) == 4
    assert [p.passage_id for p in bot.retriever.store.get_passages(list(answer.retrieved))] == list(
        answer.retrieved
    )
    (citation,) = answer.citations
    assert citation.n == 1 and citation.passage_id == answer.retrieved[0]
    assert citation.title == "Kazakhstan to build full-cycle biopharma hub"
    assert citation.article_id and citation.passage_id.startswith(citation.article_id + ":")
    stored = bot.retriever.store.get_passages([citation.passage_id])[0]
    assert citation.text == stored.text
    assert "180 permanent jobs" in citation.supporting_text
    # one user message: the stock citation prompt with numbered sources, our bookkeeping metadata hidden
    (messages,) = chat.prompts
    assert [m["role"] for m in messages] == ["user"]
    prompt = messages[0]["content"]
    assert prompt.startswith("Please provide an answer based solely on the provided sources.")
    assert f"Query: {JOBS}" in prompt and "Source 4:" in prompt
    assert "title: Kazakhstan to build full-cycle biopharma hub" in prompt
    assert "content_hash" not in prompt and "start_char" not in prompt
    assert "180 permanent jobs" in _sources(prompt)[0]
    assert answer.timings.total >= answer.timings.first_token > 0
    assert 0 < answer.timings.retrieve <= answer.timings.total


def test_marker_n_is_source_n(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    bot, chat = _baseline(seeded_dir, embedder, "It will make 58 medication items [2, 1]. Also [Source 9].")
    answer = bot.ask("How many medication items will the facility be equipped to produce?")
    assert answer.text == "It will make 58 medication items [2] [1]. Also [9]."
    # in order of first use; [9] points at no source and gets no citation
    assert [c.n for c in answer.citations] == [2, 1]
    sources = _sources(chat.prompts[0][0]["content"])
    for citation in answer.citations:
        assert citation.passage_id == answer.retrieved[citation.n - 1]
        assert citation.text.strip()[:80] in sources[citation.n - 1]


def test_refusal_reply_is_a_refusal(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    bot, _ = _baseline(seeded_dir, embedder, "The provided sources do not mention the capital of France.")
    answer = bot.ask("What is the capital of France?")
    assert answer.refused and answer.citations == ()
    assert len(answer.retrieved) == 4  # retrieval happened; only the reading of the answer says "refused"


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("", True),
        ("   ", True),
        ("None of the sources are helpful.", True),
        ("The provided sources do not contain information about the mayor [1].", True),
        ("There is no information about that in the sources.", True),
        ("The sources don't mention it.", True),
        ("I cannot find this in the provided sources.", True),
        ("The plant will create 180 jobs [1].", False),
        ("The plant will create 180 jobs [1]. The sources do not provide the opening date.", False),
        ("The ministry did not confirm the figure [2].", False),
    ],
)
def test_is_refusal(text: str, refused: bool) -> None:
    assert is_refusal(text) is refused


def test_normalise_markers() -> None:
    assert normalise_markers("A [1, 3]. B [2,4] [5].") == "A [1] [3]. B [2] [4] [5]."
    assert normalise_markers("Since [2024] nothing.") == "Since [2024] nothing."
    # the local model echoes the stock prompt's "Source n:" headers
    assert normalise_markers("About 12,000 a year [Source 1].") == "About 12,000 a year [1]."
    assert normalise_markers("A (Sources 1 and 3). B [Source 2, Source 4].") == "A [1] [3]. B [2] [4]."
    assert normalise_markers("Source 1 says so.") == "Source 1 says so."


def test_from_settings_refuses_the_extractive_backend(tmp_path: Path) -> None:
    from assistant.errors import ConfigError

    with pytest.raises(ConfigError, match="--backend local or --backend openai"):
        BaselineAssistant.from_settings(Settings(data_dir=tmp_path, llm_backend="extractive"))


def test_ingest_default_builds_a_fresh_collection(tmp_path: Path, embedder: ArchiveEmbedding) -> None:
    import chromadb

    settings = Settings(data_dir=tmp_path / "data", collection="bench")
    seconds, passages = ingest_default([ROOT / "seeds"], settings, embedder=embedder)
    # two seed files (10 articles, 23 kB): the default splitter's 1024-token chunks, not our 29 passages
    assert seconds > 0 and 2 < passages < 29
    again = ingest_default([ROOT / "seeds"], settings, embedder=embedder)
    assert again[1] == passages  # fresh each time: rebuilt, not appended
    client = chromadb.PersistentClient(path=str(settings.chroma_dir))
    assert [c.name for c in client.list_collections()] == ["bench-baseline"]


# --- the CLI ---------------------------------------------------------------------------------------------
def test_cli_both_needs_a_language_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    smoke = str(ROOT / "evals/sets/smoke")
    for pipeline in ("both", "baseline"):
        code = main(
            ["run", smoke, "--backend", "extractive", "--pipeline", pipeline, "--out", str(tmp_path / "r")]
        )
        assert code == 2
        err = capsys.readouterr().err
        assert "baseline needs a language model" in err and "--backend local or --backend openai" in err
    assert not (tmp_path / "r").exists()


def test_cli_both_runs_side_by_side_with_one_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--pipeline both` with the local backend, the model replaced by a scripted one (built only once)."""
    built: list[ScriptedChat] = []

    def scripted(settings: Settings, backend: str | None = None) -> ScriptedChat:
        reply = "The project is expected to create more than 180 permanent jobs [1]."
        built.append(ScriptedChat(reply, repeat=True))  # one model for every question of both pipelines
        return built[-1]

    for where in ("assistant.generation", "assistant.generators", "evals.baseline"):
        monkeypatch.setattr(f"{where}.build_chat_model", scripted)
    out = tmp_path / "run"
    code = main(
        [
            "run",
            str(ROOT / "evals/sets/smoke"),
            "--backend",
            "local",
            "--pipeline",
            "both",
            "--limit",
            "4",
            "--data-dir",
            str(tmp_path / "d"),
            "--out",
            str(out),
            "--fail-under",
            "accuracy=0.0",
        ]
    )
    assert code == 0
    assert len(built) == 1 and len(built[0].prompts) >= 4  # one model, asked by both pipelines
    printed = capsys.readouterr().out
    assert "smoke (ours):" in printed and "smoke (baseline):" in printed
    ours = json.loads((out / "ours" / "summary.json").read_text())
    theirs = json.loads((out / "baseline" / "summary.json").read_text())
    assert ours["backend"] == "scripted" and ours["pipeline"] == "ours"
    assert theirs["backend"] == BACKEND and theirs["pipeline"] == "baseline"
    assert theirs["overall"]["n"] == 4 and theirs["settings"]["similarity_top_k"] == 4
    results = [json.loads(line) for line in (out / "baseline" / "results.jsonl").read_text().splitlines()]
    assert len(results) == 4 and all(len(r["retrieved"]) == 4 for r in results)
    s04 = next(r for r in results if r["id"] == "s04")  # the jobs question: answered and cited right
    assert s04["score"]["correct"] and s04["citations"][0]["passage_id"] == s04["retrieved"][0]
    for folder in ("ours", "baseline"):
        for name in ("results.jsonl", "summary.json", "report.md", "report.html"):
            assert (out / folder / name).is_file(), (folder, name)
    report = (out / "ours" / "report.md").read_text(encoding="utf-8")
    assert "Ours vs baseline" in report and BACKEND in report
    assert "Ours vs baseline" not in (out / "baseline" / "report.md").read_text(encoding="utf-8")


def test_cli_both_and_an_earlier_baseline_conflict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", str(ROOT / "evals/sets/smoke"), "--backend", "local", "--pipeline", "both"]
    assert main([*args, "--baseline", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "use one" in capsys.readouterr().err


# --- the real model ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_baseline_with_the_local_model(
    local_chat_model: LocalChatModel, seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    bot = BaselineAssistant(Settings(data_dir=seeded_dir), local_chat_model, embedder)
    bot.warm_up()
    answer = bot.ask("How many jobs will the biopharma plant create?")
    # what holds whatever the stock pipeline makes of it (it has no guards: it may refuse or be wrong)
    assert answer.text and answer.timings.prompt_tokens > 0
    assert 1 <= answer.timings.completion_tokens <= bot.settings.llm_max_tokens
    assert 0 < answer.timings.first_token <= answer.timings.total
    assert len(answer.retrieved) == 4  # the retrieval is the embedder's alone: the jobs passage among them
    shown = bot.retriever.store.get_passages(list(answer.retrieved))
    assert any("180 permanent jobs" in p.text for p in shown)
    for citation in answer.citations:  # marker [n] is source n, the n-th retrieved passage
        assert citation.passage_id == answer.retrieved[citation.n - 1]
        assert citation.supporting_text.strip() and citation.supporting_text in citation.text
    if not answer.refused:
        assert "180" in answer.text
