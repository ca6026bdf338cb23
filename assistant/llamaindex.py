"""The assistant as llama-index components, for applications built on llama-index.

`AssistantQueryEngine` answers with the whole pipeline (retrieval, the relevance gate, the generator and the
grounding guards): its `Response` holds our cited answer (or our refusal) and, as source nodes, only the
passages the answer cites. `AssistantRetriever` is our hybrid retrieval alone (dense and BM25 fused by
reciprocal rank, dates and named sources taken into account), for llama-index's own synthesizers,
postprocessors and query engines.

Build them with `Assistant.as_query_engine()` and `Assistant.as_retriever()`; this module is imported only
then, so `import assistant` does not load llama-index's query-engine machinery.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.callbacks import CallbackManager
from llama_index.core.prompts.mixin import PromptMixinType
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from ingest.store import StoredPassage

from .engine import Assistant
from .types import Answer, Citation

# node metadata a synthesizing LLM or an embedder does not need to see
_HIDDEN = ["article_id", "url", "n"]


def _node(passage_id: str, text: str, metadata: dict[str, Any]) -> TextNode:
    return TextNode(
        id_=passage_id,
        text=text,
        metadata=metadata,
        excluded_llm_metadata_keys=[key for key in _HIDDEN if key in metadata],
        excluded_embed_metadata_keys=[key for key in _HIDDEN if key in metadata],
    )


def citation_node(citation: Citation) -> NodeWithScore:
    """A cited passage as a llama-index node: id the passage id, metadata its article and citation number."""
    metadata = {
        "n": citation.n,
        "title": citation.title,
        "published": citation.published,
        "source": citation.source,
        "url": citation.url,
        "article_id": citation.article_id,
    }
    # an answer ranks its sources by citation number, not by a score
    return NodeWithScore(node=_node(citation.passage_id, citation.text, metadata), score=None)


def passage_node(passage: StoredPassage, score: float) -> NodeWithScore:
    """A retrieved passage as a llama-index node, scored with the fused (reciprocal-rank) score."""
    meta = passage.metadata
    metadata = {
        "title": str(meta.get("title", "")),
        "published": str(meta.get("published", "")),
        "source": str(meta.get("source", "")),
        "url": str(meta.get("url", "")),
        "article_id": str(meta.get("article_id", "")),
    }
    return NodeWithScore(node=_node(passage.passage_id, passage.text, metadata), score=score)


def to_response(answer: Answer) -> Response:
    """Our `Answer` as a llama-index `Response`.

    `response` is the answer text with its [n] markers (the refusal text when refused); `source_nodes` the
    cited passages in citation order (none when refused); `metadata` holds `refused`, the drafting
    `backend`, the guards' `notes`, and for each citation its number, passage id, the character span of the
    sentence that supports it and that sentence (`citations`).
    """
    return Response(
        response=answer.text,
        source_nodes=[citation_node(c) for c in answer.citations],
        metadata={
            "refused": answer.refused,
            "backend": answer.backend,
            "notes": list(answer.notes),
            "citations": [
                {
                    "n": c.n,
                    "passage_id": c.passage_id,
                    "span": c.span,
                    "supporting_text": c.supporting_text,
                }
                for c in answer.citations
            ],
        },
    )


class AssistantQueryEngine(BaseQueryEngine):
    """`Assistant.ask()` behind llama-index's query-engine interface. `ask_kwargs` (`max_sources`,
    `published_between`, `history`) are passed to every question."""

    def __init__(
        self, assistant: Assistant, callback_manager: CallbackManager | None = None, **ask_kwargs: Any
    ) -> None:
        self.assistant = assistant
        self.ask_kwargs = ask_kwargs
        super().__init__(callback_manager)

    def _get_prompt_modules(self) -> PromptMixinType:
        # our prompts are template files (prompts/), not llama-index prompt templates
        return {}

    def _query(self, query_bundle: QueryBundle) -> Response:
        return to_response(self.assistant.ask(query_bundle.query_str, **self.ask_kwargs))

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        # the engine is synchronous (a local model holds the CPU anyway); this runs it in the caller's loop
        return self._query(query_bundle)


class AssistantRetriever(BaseRetriever):
    """Our hybrid retrieval behind llama-index's retriever interface: the passages best first, each scored
    with its fused (reciprocal-rank) score, which falls down the list, except that a question naming
    sources gets each named source's best passages first (scored within their source). `k` caps them
    (default: the `candidates` setting)."""

    def __init__(
        self, assistant: Assistant, k: int | None = None, callback_manager: CallbackManager | None = None
    ) -> None:
        self.assistant = assistant
        self.k = k
        super().__init__(callback_manager=callback_manager)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        retrieval = self.assistant.retriever.retrieve(query_bundle.query_str, k=self.k)
        return [passage_node(hit.passage, hit.score) for hit in retrieval.hits]
