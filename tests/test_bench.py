"""evals.synth and evals.bench: the synthetic archive, the retrieval section at a tiny size, the helpers.

Fast: no LLM, no timing assertions (the figures are only checked to exist and be positive).
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import datetime
from pathlib import Path

import pytest

from evals.bench.cli import build_parser, forwarded, save
from evals.bench.measure import busy, merge_busy, run_child, spread
from evals.bench.retrieval import _pack, interleave, render_retrieval, retrieval_section
from evals.synth import SOURCES, generate_archive, sentence_pool, synthetic_articles
from evals.tables import table
from ingest.embedding import ArchiveEmbedding
from ingest.readers import read_file
from ingest.sentences import sentences


# --- the synthetic archive --------------------------------------------------------------------------------
def test_generate_archive_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    a = generate_archive(tmp_path / "a.jsonl", 40, seed=3)
    b = generate_archive(tmp_path / "b.jsonl", 40, seed=3)
    c = generate_archive(tmp_path / "c.jsonl", 40, seed=4)
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)


def test_generate_archive_writes_articles_the_reader_accepts(tmp_path: Path) -> None:
    path = generate_archive(tmp_path / "archive.jsonl", 60, seed=1)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 60
    records = [json.loads(line) for line in lines]
    assert len({r["id"] for r in records}) == 60

    result = read_file(path, "bench/archive.jsonl", 10**8)
    assert result.problems == []
    assert len(result.articles) == 60
    pool = set(sentence_pool())
    for article, record in zip(result.articles, records, strict=True):
        assert article.title and article.text
        assert article.source in SOURCES
        assert article.url.startswith("https://news.example/")
        assert article.published is not None
        published = datetime.fromisoformat(record["published"])
        assert 2015 <= published.year <= 2026
        assert article.published == published.isoformat()
        assert 4 <= len(article.text.split("\n\n")) <= 12
        assert any(s in pool for s in sentences(article.text))  # real sentences


def test_synthetic_articles_match_their_archive_and_spans(tmp_path: Path) -> None:
    pool = sentence_pool()
    path = generate_archive(tmp_path / "archive.jsonl", 15, seed=2)
    read = read_file(path, "bench/archive.jsonl", 10**8).articles
    for synth, article in zip(synthetic_articles(15, seed=2), read, strict=True):
        text = synth.text(pool)
        assert article.text == text and article.title == synth.title
        spans = synth.sentence_spans(pool)
        assert [text[a:b] for _, a, b in spans] == [pool[i] for i, _, _ in spans]
        assert 2 <= min(len(p) for p in synth.paragraphs) <= max(len(p) for p in synth.paragraphs) <= 5
        drawn = [i for para in synth.paragraphs for i in para]
        assert len(drawn) == len(set(drawn))  # distinct sentences within an article


def test_generate_archive_wants_a_jsonl_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="jsonl"):
        generate_archive(tmp_path / "archive.json", 1)


# --- helpers ----------------------------------------------------------------------------------------------
def test_spread_on_known_values() -> None:
    values = [float(v) for v in range(10, 0, -1)]  # 10..1, unsorted on purpose
    stats = spread(values)
    assert stats["p50"] == pytest.approx(5.5) and stats["p95"] == pytest.approx(9.55)  # linear interpolation
    assert (stats["n"], stats["min"], stats["max"], stats["mean"]) == (10, 1.0, 10.0, 5.5)
    assert spread([0.25])["p95"] == 0.25
    assert spread([1.0, 3.0])["p50"] == 2.0
    assert all(isinstance(v, int | float) for v in spread(values).values())  # JSON-ready, no numpy scalars
    assert spread([]) == {"n": 0, "p50": 0.0, "p95": 0.0, "mean": 0.0, "min": 0.0, "max": 0.0}


def test_pack_keeps_order_and_budget() -> None:
    tokens = [50, 60, 70, 200, 10]
    spans = [(i, 0, 1) for i in range(5)]
    groups = _pack(spans, tokens, 150)
    assert [[i for i, _, _ in g] for g in groups] == [[0, 1], [2], [3], [4]]  # 200 stands alone


def test_interleave_and_table() -> None:
    assert interleave([["a1", "a2", "a3"], ["b1"]]) == ["a1", "b1", "a2", "a3"]
    text = table(["name", "n", "ok"], [["x", 1234, True], ["long name", 0.5, None]])
    lines = text.splitlines()
    assert lines[0].startswith("name") and lines[0].endswith("ok") and len(lines) == 4
    assert lines[2].startswith("x ") and lines[2].endswith("1,234  yes")  # numbers right-aligned
    assert lines[3].endswith("0.500  -")
    assert all(line == line.rstrip() for line in lines)


def test_table_as_markdown_and_with_chosen_alignment() -> None:
    text = table(["metric", "value"], [["accuracy", "84.2%"], ["n", 23]], markdown=True)
    assert text.splitlines()[0].startswith("| metric") and text.splitlines()[1].startswith("|---")
    assert [c.strip() for c in text.splitlines()[2].split("|")] == ["", "accuracy", "84.2%", ""]
    left = table(["a", "b"], [["x", "1"], ["yy", "22"]], justify=["left", "left"])
    assert left.splitlines()[2] == "x   1"


def test_save_merges_sections(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    save(out, "ingest", {"a": 1})
    save(out, "retrieval", {"b": 2})
    save(out, "ingest", {"a": 3})
    assert json.loads(out.read_text()) == {"ingest": {"a": 3}, "retrieval": {"b": 2}}


def test_all_forwards_the_options_to_each_section() -> None:
    args = build_parser().parse_args(["all", "--sizes", "300", "1000", "--limit", "2", "--articles", "50"])
    again = build_parser().parse_args(["ingest", *forwarded(args)])
    assert (again.sizes, again.limit, again.articles, again.queries) == ([300, 1000], 2, 50, 50)
    assert (again.with_model, again.no_live) == (False, False)
    flags = build_parser().parse_args(["all", "--with-model", "--no-live"])
    again = build_parser().parse_args(["retrieval", *forwarded(flags)])
    assert (again.with_model, again.no_live) == (True, True)


def test_run_child_reports_output_time_and_memory() -> None:
    result = run_child([sys.executable, "-c", "print('answer')"])
    assert result["returncode"] == 0 and result["output_head"] == "answer\n"
    long = run_child([sys.executable, "-c", "print('x' * 5000)"])
    assert long["output"] == "x" * 5000 + "\n" and len(long["output_head"]) == 300
    assert 0 < result["to_output_s"] <= result["wall_s"] and result["peak_rss_mb"] > 0
    failed = run_child([sys.executable, "-c", "import sys; sys.exit('boom')"])
    assert failed["returncode"] == 1 and "boom" in failed["stderr_tail"]


# --- the retrieval section at a tiny size -----------------------------------------------------------------
def test_retrieval_section_tiny(tmp_path: Path, embedder: ArchiveEmbedding) -> None:
    result = retrieval_section(
        sizes=[300], queries=5, warmup=1, embedder=embedder, pool_limit=200, workdir=tmp_path
    )
    assert {"machine", "pool", "sizes", "queries", "peak_rss_mb"} <= result.keys()
    assert result["machine"]["cores"] >= 1 and result["machine"]["date"]
    assert result["pool"]["sentences"] == 200 and result["queries"] == 5
    (row,) = result["sizes"]
    assert row["passages"] == 300 and row["articles"] > 0
    assert row["startup_rebuilt_index"] is False
    for key in ("build_s", "bm25_load_s", "bm25_rebuild_s", "startup_s", "peak_rss_mb"):
        assert row[key] > 0, key
    for part in ("total", "embed", "dense", "lexical", "fuse"):
        stats = row["retrieve_s"][part]
        assert stats["n"] == 5
        assert 0 < stats["p50"] <= stats["p95"], part
    assert row["hits_mean"] > 0
    assert "retrieve, milliseconds" in render_retrieval(result)
    assert list(tmp_path.iterdir()) == []  # the temporary data dir is gone


def test_served_starts_the_whole_assistant_on_an_archive_and_answers(seeded_dir: Path) -> None:
    from evals.bench.served import served

    result = served(seeded_dir, ["How many jobs will the biopharma plant create?"], backend="extractive")
    assert result["returncode"] == 0, result["error"]
    assert result["import_s"] > 0 and 0 < result["startup_s"] < result["wall_s"]
    (answer,) = result["answers"]
    assert answer["refused"] is False and 0 < answer["retrieve_s"] <= answer["total_s"]
    assert result["peak_rss_mb"] > 100  # the child's own memory (embedder and archive), not the test's
    broken = served(seeded_dir.parent / "missing", ["Anything?"], backend="extractive")
    assert broken["returncode"] != 0 and broken["answers"] == [] and broken["error"]


def test_feeds_section_small(tmp_path: Path, embedder: ArchiveEmbedding) -> None:
    from evals.bench.feeds import SlowServers, feeds_section, render_feeds

    slow = SlowServers(feeds=3, items=2, servers=1, timeout=1.0)
    result = feeds_section(feeds=3, items=4, new_items=5, workdir=tmp_path, embedder=embedder, slow=slow)
    first, poll, added = result["first_sync"], result["unchanged_poll"], result["new_items"]
    assert (first["new"], first["failed"], first["requests"]) == (12, 0, 3 + 12)  # the feeds and each page
    assert first["passages"] >= 12 and first["articles_per_s"] > 0
    assert (poll["requests"], poll["answered_304"], poll["passages_written"]) == (3, 3, 0)
    assert poll["bare_conditional_requests_s"] > 0 and poll["seconds"] > 0
    assert (added["new"], added["unchanged"], added["failed"]) == (5, 0, 0)
    assert added["requests"] == added["requests_seen"] == 3 + 5  # the feeds and only the new pages
    text = render_feeds(result)
    assert "3 feeds x 4 items" in text and "3 of 3 requests answered 304" in text and "5 new items" in text
    slowed = result["slow_servers"]
    assert (slowed["new"], slowed["failed"], slowed["read_from_summary"]) == (6, 0, 2)  # slow pages cut off
    assert slowed["slow_pages"] == 2 and slowed["expected_fetch_bound_s"] == 1.0 and slowed["fetch_s"] >= 1.0
    assert "slow servers: 3 feeds x 2 items" in text and "2 pages read from the feed's summary" in text
    assert list(tmp_path.iterdir()) == []  # the temporary data dir is gone


def test_stock_retriever_reads_the_collection_the_default_ingestion_built(
    tmp_path: Path, embedder: ArchiveEmbedding
) -> None:
    from assistant.settings import Settings
    from evals.baseline import ingest_default
    from evals.bench.common import SEEDS
    from evals.bench.versus import stock_retriever

    settings = Settings(data_dir=tmp_path / "d")
    _, passages = ingest_default([SEEDS], settings, embedder=embedder)
    nodes = stock_retriever(settings, embedder, 3).retrieve("How many jobs will the biopharma plant create?")
    assert 0 < len(nodes) <= min(3, passages)
    assert any("180" in n.node.get_content() for n in nodes)


def test_render_versus_shows_both_pipelines_and_the_ratios() -> None:
    from evals.bench.versus import render_versus

    side = {"n": 23, "accuracy": 0.9, "total_p50_s": 5.0, "first_token_p50_s": 4.0}
    data = {
        "machine": {
            "date": "2026-11-24",
            "cores": 2,
            "cpu_model": "x",
            "memory_gb": 23.5,
            "load_average": [0, 0, 0],
        },
        "load_average_after": [0, 0, 0],
        "ingest": [
            {
                "corpus": "seeds",
                "articles": 10,
                "ours": {"seconds": 2.0, "passages": 29},
                "llamaindex": {"seconds": 3.0, "passages": 12},
                "llamaindex_over_ours": 1.5,
            }
        ],
        "retrieval": {
            "archive": "clapnq_dev corpus",
            "queries": 120,
            "ours_ms": spread([10.0, 12.0]),
            "llamaindex_ms": spread([5.0, 6.0]),
            "ours_k": 20,
            "llamaindex_k": 4,
        },
        "answers": {"set": "seeds_dev", "ours": side, "llamaindex": {**side, "total_p50_s": 17.5}},
        "ratios": {"ingest": [1.5], "retrieval_p50": 0.5, "answer_total_p50": 3.5},
    }
    text = render_versus(data)
    assert "ingest 1.50x" in text and "answer total p50 3.50x" in text
    assert "llama-index (vector, k=4)" in text and "ours (hybrid, k=20)" in text
    assert "17.5" in text


def test_busy_names_the_load_and_the_heavy_processes() -> None:
    import subprocess

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        now = busy(sample_s=0.5)
    finally:
        spinner.kill()
        spinner.wait()
    assert {"load_average", "cores", "heavy_processes", "busy", "reasons"} <= now.keys()
    assert any(f"pid {spinner.pid}" in h for h in now["heavy_processes"]) and now["busy"]
    quiet = {"busy": False, "reasons": []}
    assert merge_busy(quiet, quiet)["busy"] is False
    merged = merge_busy(quiet, now)
    assert merged["busy"] and all(r.startswith("at end: ") for r in merged["reasons"])


def test_a_missing_workdir_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evals.bench import cli

    monkeypatch.setattr(cli, "run_section", lambda name, args: {"machine": {}})
    monkeypatch.setattr(cli, "RENDER", {"ingest": lambda data: "rendered"})
    monkeypatch.setattr(cli, "busy", lambda: {"busy": False, "reasons": []})
    workdir = tmp_path / "not" / "there"
    out = tmp_path / "out.json"
    assert cli.main(["ingest", "--workdir", str(workdir), "--out", str(out)]) == 0
    assert workdir.is_dir() and json.loads(out.read_text())["ingest"]["busy"]["busy"] is False
    (tmp_path / "file").write_text("")
    assert cli.main(["ingest", "--workdir", str(tmp_path / "file" / "sub"), "--out", str(out)]) == 2
