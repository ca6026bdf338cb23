"""The assistant as llama-index components (query engine, retriever) over the seeded archive, with the
extractive backend (no language model)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import MockLLM
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode
from llama_index.core.tools import QueryEngineTool

from assistant import Assistant, Settings
from ingest.embedding import Embedder

JOBS = "How many jobs will the biopharma plant create?"
OFF_TOPIC = "What is the boiling point of liquid nitrogen in kelvin?"
META = {"title", "published", "source", "url", "article_id"}


@pytest.fixture(scope="module")
def bot(seeded_dir: Path, embedder: Embedder) -> Assistant:
    return Assistant.from_settings(Settings(data_dir=seeded_dir, llm_backend="extractive"), embedder=embedder)


def test_they_are_llama_index_components(bot: Assistant) -> None:
    assert isinstance(bot.as_query_engine(), BaseQueryEngine)
    assert isinstance(bot.as_retriever(), BaseRetriever)
    assert bot.as_query_engine().get_prompts() == {}


def test_query_engine_answers_with_the_cited_passages(bot: Assistant) -> None:
    answer = bot.ask(JOBS)
    response = bot.as_query_engine().query(JOBS)
    assert isinstance(response, Response)
    assert response.response == answer.text and "180 permanent jobs [1]" in str(response)
    assert len(response.source_nodes) == len(answer.citations) >= 1
    for node, citation in zip(response.source_nodes, answer.citations, strict=True):
        assert isinstance(node.node, TextNode)
        assert node.node.node_id == citation.passage_id and node.node.get_content() == citation.text
        meta = node.node.metadata
        assert meta["n"] == citation.n and meta["title"] == citation.title
        assert (meta["published"], meta["source"], meta["url"], meta["article_id"]) == (
            citation.published,
            citation.source,
            citation.url,
            citation.article_id,
        )
    assert response.metadata is not None and response.metadata["refused"] is False
    [cited] = response.metadata["citations"][:1]
    assert cited["n"] == 1 and cited["passage_id"] == answer.citations[0].passage_id
    assert tuple(cited["span"]) == answer.citations[0].span
    assert "180 permanent jobs" in cited["supporting_text"]
    # a synthesizing LLM sees the title, date and source of a node, not its ids
    shown = response.source_nodes[0].node.get_content(metadata_mode=MetadataMode.LLM)
    assert "biopharma hub" in shown and "article_id" not in shown


def test_query_engine_refusal_has_no_sources(bot: Assistant) -> None:
    response = bot.as_query_engine().query(OFF_TOPIC)
    assert isinstance(response, Response) and response.response == bot.prompts.refusal
    assert response.source_nodes == []
    assert response.metadata is not None and response.metadata["refused"] is True
    assert response.metadata["citations"] == []


def test_query_engine_passes_ask_options_and_answers_async(bot: Assistant) -> None:
    engine = bot.as_query_engine(max_sources=1)
    response = asyncio.run(engine.aquery(JOBS))
    assert isinstance(response, Response) and len(response.source_nodes) == 1


def test_retriever_returns_hybrid_hits_best_first(bot: Assistant) -> None:
    hits = bot.retriever.retrieve(JOBS).hits
    nodes = bot.as_retriever().retrieve(JOBS)
    assert nodes and all(isinstance(n, NodeWithScore) for n in nodes)
    assert [n.node.node_id for n in nodes] == [h.passage_id for h in hits]
    scores = [n.score for n in nodes]
    assert scores == [h.score for h in hits] and scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert any("180 permanent jobs" in n.node.get_content() for n in nodes[:3])
    assert set(nodes[0].node.metadata) >= META
    assert nodes[0].node.metadata["title"] == "Kazakhstan to build full-cycle biopharma hub"


def test_retriever_composes_with_llama_index(bot: Assistant) -> None:
    """Our retriever under llama-index's own query engine and postprocessors (a mock LLM synthesizes)."""
    nodes = bot.as_retriever().retrieve(JOBS)
    cutoff = nodes[2].score
    engine = RetrieverQueryEngine.from_args(
        bot.as_retriever(),
        llm=MockLLM(max_tokens=8),
        node_postprocessors=[SimilarityPostprocessor(similarity_cutoff=cutoff)],
    )
    response = engine.query(JOBS)
    kept = [n.node.node_id for n in nodes if n.score is not None and cutoff is not None and n.score >= cutoff]
    assert [n.node.node_id for n in response.source_nodes] == kept and len(kept) >= 3
    assert isinstance(response, Response) and response.response


def test_query_engine_composes_as_a_tool(bot: Assistant) -> None:
    """An agent's tool wrapping our query engine: the tool's output is our cited answer."""
    tool = QueryEngineTool.from_defaults(
        bot.as_query_engine(), name="news", description="Answers questions about the news archive."
    )
    output = tool(JOBS)
    assert "[1]" in output.content and isinstance(output.raw_output, Response)
