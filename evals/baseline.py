"""A plain llama-index pipeline on the same archive, embedder and model: the baseline the evals compare with.

    question -> VectorStoreIndex retriever (top 4, the same Chroma collection, MiniLM query embedding)
    -> the stock CitationQueryEngine (512-token citation chunks, its default prompts, compact synthesis)
    -> the same chat model (local GGUF through llama.cpp, or the OpenAI-compatible server), temperature 0

Nothing of our own pipeline takes part: no question condensing, no BM25 or date ranking, no relevance gate,
no sentence-level context, no grounding guards, no extractive fallback. What this module adds is only what
plugs the stock parts into the harness:

- `ChatModelLLM`, a llama-index `CustomLLM` over our `ChatModel`: llama-index's completion prompt goes to
  the model as a single user message (the GGUF is a chat model; this is what llama-index's own llama.cpp
  integration does with its default `completion_to_prompt`, minus the extra llama-cpp-python it pins).
- Reading the answer back into an `Answer`: the stock prompt numbers the sources "Source 1:", "Source 2:",
  ..., so marker [n] is `response.source_nodes[n-1]`; its passage id is recovered from the node that
  source was cut from (CitationQueryEngine gives citation chunks fresh ids). "[1, 2]" is written "[1] [2]"
  and "[Source 1]" (the local model often echoes the prompt's "Source 1:" headers) "[1]", so the scorer
  reads the markers the model meant; the text is otherwise the model's.
- Refusal detection, kept simple on purpose: an empty answer, or an answer whose first sentence (markers
  stripped) has a negation ("not", "no", "none", "n't", "neither", "cannot") together with one of
  "provide(d)", "mention", "contain", "information", "helpful", "specif..." ("The provided sources do not
  mention ...", "None of the sources are helpful."). Only the first sentence counts, so an answer that gives
  the fact and then says the sources omit a detail is an answer.

Our Chroma records (text in `documents`, flat metadata, no `_node_content`) are read by the stock
`ChromaVectorStore` without an adapter: `metadata_dict_to_node` fails on them and the store falls back to
its legacy path, a `TextNode` with the record's id, document text and metadata. Such a node shows the LLM
every metadata key, our bookkeeping included (content_hash, offsets, origin, ...: some 80 tokens of noise
per source); a pass-through node postprocessor marks all keys but title, published and source as
`excluded_llm_metadata_keys`, as llama-index's own ingestion does for its bookkeeping, so the model sees
what our prompt shows too. The same postprocessor notes the retrieved ids for the retrieval metrics.

`similarity_top_k` is 4, not llama-index's default 2: our pipeline puts up to 5 passages (of 192 tokens)
in a prompt, and 2 would starve the baseline of recall; 4 passages of 192 tokens (each one citation chunk
at 512) plus the stock prompt fit the 2,048-token context of the local model in one call.

The stock query engine has no chat memory: a follow-up question is asked as it stands (`history` is ignored).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from assistant.errors import ConfigError, GeneratorError, QuestionError
from assistant.generation import ChatModel, build_chat_model
from assistant.markers import MARKER, marker_numbers, strip_markers
from assistant.settings import MODEL_BACKENDS, Settings
from assistant.text import clean_question, content_words
from assistant.types import Answer, Citation, Timings
from ingest.embedding import Embedder, build_embedder
from ingest.sentences import sentence_spans
from ingest.store import PassageStore

BACKEND = "llama-index baseline"
SIMILARITY_TOP_K = 4
CITATION_CHUNK_SIZE = 512
LLM_METADATA = ("title", "published", "source")  # the metadata the model sees above each source
# tokens kept free for the chat template around the prompt and for tokenizer differences (llama-index
# counts with tiktoken, the model with its own vocabulary)
_CONTEXT_MARGIN = 96

# "[Source 1]", "(Sources 1 and 3)", "[Source 1, Source 2]": the stock prompt's own "Source n:" wording
_SOURCE_MARKER = re.compile(
    r"[\[(]\s*Sources?\s*(\d{1,3}(?:\s*(?:,|and|&)\s*(?:Sources?\s*)?\d{1,3})*)\s*[\])]", re.IGNORECASE
)
_NUMBER = re.compile(r"\d{1,3}")
_NEGATION = re.compile(r"\b(?:not|no|none|neither|cannot)\b|n't\b", re.IGNORECASE)
_NO_ANSWER = re.compile(
    r"\b(?:provided?|mention\w*|contain\w*|information|helpful|specif\w*)\b", re.IGNORECASE
)
_SOURCE_HEADER = re.compile(r"^Source \d+:\n")


class ChatModelLLM(CustomLLM):
    """llama-index's LLM interface over one of our chat models (same weights, llama.cpp, temperature 0)."""

    context_window: int = 2048
    num_output: int = 200
    model_name: str = "local"
    _chat_model: ChatModel = PrivateAttr()

    def __init__(self, chat_model: ChatModel, *, context_window: int, num_output: int, **kwargs: Any) -> None:
        super().__init__(
            context_window=context_window, num_output=num_output, model_name=chat_model.name, **kwargs
        )
        self._chat_model = chat_model

    @classmethod
    def class_name(cls) -> str:
        return "ChatModelLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.num_output,
            is_chat_model=False,
            model_name=self.model_name,
        )

    @staticmethod
    def _messages(prompt: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": prompt}]

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        text = self._chat_model.complete(self._messages(prompt), max_tokens=self.num_output)
        return CompletionResponse(text=text)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def gen() -> CompletionResponseGen:
            text = ""
            for delta in self._chat_model.stream(self._messages(prompt), max_tokens=self.num_output):
                text += delta
                yield CompletionResponse(text=text, delta=delta)

        return gen()


class _RecordRetrieved(BaseNodePostprocessor):
    """Passes the retrieved nodes on in the same order, noting them and when they came, and hides our
    bookkeeping metadata from the LLM (it stays on the nodes)."""

    _nodes: list[NodeWithScore] = PrivateAttr(default_factory=list)
    _at: float = PrivateAttr(default=0.0)

    @classmethod
    def class_name(cls) -> str:
        return "RecordRetrieved"

    def reset(self) -> None:
        self._nodes, self._at = [], 0.0

    @property
    def nodes(self) -> list[NodeWithScore]:
        return list(self._nodes)

    @property
    def at(self) -> float:
        return self._at

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        self._nodes, self._at = list(nodes), time.perf_counter()
        for node in nodes:
            node.node.excluded_llm_metadata_keys = [k for k in node.node.metadata if k not in LLM_METADATA]
        return nodes


@dataclass
class _Retriever:
    """What the harness reads off `bot.retriever`: the passage store (for the retrieved passages' texts)."""

    store: PassageStore
    embedder: Embedder


@dataclass
class BaselineAssistant:
    """The stock llama-index citation pipeline with the duck-typed surface `evals.runner.run_set` needs."""

    settings: Settings
    chat_model: ChatModel
    embedder: Embedder
    store: PassageStore | None = None
    similarity_top_k: int = SIMILARITY_TOP_K
    backend: str = BACKEND
    retriever: _Retriever = field(init=False)
    _engine: Any = field(init=False, default=None)
    _recorder: _RecordRetrieved = field(init=False, default_factory=_RecordRetrieved)

    def __post_init__(self) -> None:
        self.store = self.store or PassageStore(self.settings)
        self.retriever = _Retriever(self.store, self.embedder)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        chat_model: ChatModel | None = None,
        embedder: Embedder | None = None,
        store: PassageStore | None = None,
    ) -> BaselineAssistant:
        """The baseline on the settings' archive; pass `chat_model`/`embedder` to share loaded ones."""
        if chat_model is None:
            if settings.llm_backend not in MODEL_BACKENDS:
                raise ConfigError(
                    "the llama-index baseline needs a language model: use --backend local or "
                    f"--backend openai (not {settings.llm_backend})"
                )
            chat_model = build_chat_model(settings)
        return cls(settings, chat_model, embedder or build_embedder(settings), store)

    @property
    def run_settings(self) -> dict[str, Any]:
        """What a run's summary records of this pipeline's configuration."""
        return {
            "llm": self.chat_model.name,
            "chunk_tokens": self.settings.chunk_tokens,
            "similarity_top_k": self.similarity_top_k,
            "citation_chunk_size": CITATION_CHUNK_SIZE,
        }

    # --- the stock pipeline -------------------------------------------------------------------------------
    @property
    def llm(self) -> ChatModelLLM:
        return ChatModelLLM(
            self.chat_model,
            context_window=max(512, self.settings.llm_context - _CONTEXT_MARGIN),
            num_output=self.settings.llm_max_tokens,
        )

    @property
    def engine(self) -> Any:
        """`CitationQueryEngine.from_args` over `VectorStoreIndex.from_vector_store` (built on first use)."""
        if self._engine is None:
            from llama_index.core.query_engine import CitationQueryEngine

            assert self.store is not None
            collection = self.store._collections()[0]  # the very collection our pipeline queries
            index = vector_index(collection, self.embedder)
            self._engine = CitationQueryEngine.from_args(
                index,
                llm=self.llm,
                similarity_top_k=self.similarity_top_k,
                citation_chunk_size=CITATION_CHUNK_SIZE,
                streaming=True,
                node_postprocessors=[self._recorder],
            )
        return self._engine

    def warm_up(self) -> None:
        """Load the embedder and the model, and evaluate the fixed head of the stock prompt once."""
        from llama_index.core.query_engine.citation_query_engine import CITATION_QA_TEMPLATE

        self.embedder.get_query_embedding("warm up")
        _ = self.engine
        prompt = CITATION_QA_TEMPLATE.format(context_str="", query_str="warm up")
        self.chat_model.warm_up(ChatModelLLM._messages(prompt))

    # --- the harness surface ----------------------------------------------------------------------------
    def ask(self, question: str, history: Sequence[dict[str, Any]] | None = None) -> Answer:
        """The stock engine's answer to `question` (history is not used: the stock engine has no memory)."""
        question = clean_question(question or "")
        if not question:
            raise QuestionError("the question is empty")
        engine = self.engine
        self._recorder.reset()
        started = time.perf_counter()
        first: float | None = None
        try:
            response = engine.query(question)
            parts: list[str] = []
            gen = getattr(response, "response_gen", None)
            if gen is not None:
                for delta in gen:
                    if first is None and delta:
                        first = time.perf_counter()
                    parts.append(delta)
                text = "".join(parts)
            else:  # a non-streaming response (e.g. nothing retrieved)
                text = str(getattr(response, "response", "") or "")
        except GeneratorError:
            raise
        except ValueError as exc:  # llama-index raises plain errors (e.g. a prompt too long for the window)
            raise GeneratorError(f"the llama-index baseline failed: {exc}") from exc
        total = time.perf_counter() - started
        if text.strip() == "Empty Response":
            text = ""
        text = normalise_markers(text.strip())
        retrieved_nodes = self._recorder.nodes
        sources = list(getattr(response, "source_nodes", []) or [])
        citations = map_citations(text, sources, retrieved_nodes)
        usage = self.chat_model.last_usage
        retrieve_s = (self._recorder.at - started) if self._recorder.at else 0.0
        return Answer(
            text=text,
            citations=citations,
            refused=is_refusal(text),
            question=question,
            standalone_question=question,
            backend=self.backend,
            retrieved=tuple(n.node.node_id for n in retrieved_nodes),
            timings=Timings(
                retrieve=retrieve_s,
                first_token=(first - started) if first is not None else total,
                generate=total - retrieve_s,
                total=total,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
            ),
        )


# --- reading the stock answer ------------------------------------------------------------------------------
def normalise_markers(text: str) -> str:
    """Write "[1, 2]" and "[Source 1, Source 2]" as "[1] [2]", the form the scorer (and our pipeline) uses."""

    def markers(match: re.Match[str]) -> str:
        return " ".join(f"[{n}]" for n in _NUMBER.findall(match.group(1)))

    return MARKER.sub(markers, _SOURCE_MARKER.sub(markers, text))


def is_refusal(text: str) -> bool:
    """Empty, or the first sentence says the sources do not answer (see the module docstring)."""
    plain = strip_markers(text).strip()
    if not plain:
        return True
    spans = sentence_spans(plain)
    first = plain[spans[0][0] : spans[0][1]] if spans else plain
    return bool(_NEGATION.search(first) and _NO_ANSWER.search(first))


def _source_text(node: NodeWithScore) -> str:
    return _SOURCE_HEADER.sub("", node.node.get_content(), count=1).strip()


def _origin(chunk: str, retrieved: Sequence[NodeWithScore], start: int) -> int | None:
    """Index of the retrieved node a citation chunk was cut from (chunks come in retrieval order)."""
    for i in list(range(start, len(retrieved))) + list(range(0, start)):
        if chunk and chunk in retrieved[i].node.get_content():
            return i
    return None


def _stored_id(metadata: dict[str, Any]) -> str:
    """Our passage id from a node's metadata (`<article_id>:<content_hash>:<chunk_index>`), or ""."""
    keys = ("article_id", "content_hash", "chunk_index")
    if all(k in metadata for k in keys):
        return ":".join(str(metadata[k]) for k in keys)
    return ""


def _best_span(passage: str, claims: Iterable[str]) -> tuple[int, int]:
    """The passage sentence sharing most key words with the sentences that cite it; the whole text if none."""
    words: set[str] = set()
    for claim in claims:
        words |= content_words(claim)
    best, best_score = (0, len(passage)), 0
    for a, b in sentence_spans(passage):
        score = len(words & content_words(passage[a:b]))
        if score > best_score:
            best, best_score = (a, b), score
    return best


def map_citations(
    text: str, sources: Sequence[NodeWithScore], retrieved: Sequence[NodeWithScore] = ()
) -> tuple[Citation, ...]:
    """A `Citation` for each marker [n] in `text` with a source n (Source n is `sources[n-1]`), in order of
    first use. The passage is the retrieved record the source was cut from (its stored id and full text)."""
    claims: dict[int, list[str]] = {}
    order: list[int] = []
    for a, b in sentence_spans(text):
        sentence = text[a:b]
        for n in marker_numbers(sentence):
            if 1 <= n <= len(sources):
                claims.setdefault(n, []).append(sentence)
                if n not in order:
                    order.append(n)
    origins: list[int | None] = []
    cursor = 0
    for source in sources:
        origin = _origin(_source_text(source), retrieved, cursor)
        origins.append(origin)
        cursor = origin if origin is not None else cursor
    out = []
    for n in order:
        source = sources[n - 1]
        origin = origins[n - 1]
        node = retrieved[origin].node if origin is not None else source.node
        metadata = dict(node.metadata or {})
        passage_id = node.node_id if origin is not None else (_stored_id(metadata) or node.node_id)
        passage = node.get_content() if origin is not None else _source_text(source)
        out.append(
            Citation(
                n=n,
                passage_id=passage_id,
                article_id=str(metadata.get("article_id", "")),
                title=str(metadata.get("title", "")),
                published=str(metadata.get("published", "")),
                source=str(metadata.get("source", "")),
                url=str(metadata.get("url", "")),
                text=passage,
                span=_best_span(passage, claims[n]),
            )
        )
    return tuple(out)


def vector_index(collection: Any, embedder: Embedder) -> Any:
    """llama-index's stock `VectorStoreIndex` over an existing Chroma collection."""
    from llama_index.core import VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    return VectorStoreIndex.from_vector_store(
        ChromaVectorStore(chroma_collection=collection), embed_model=embedder
    )


# --- llama-index's default ingestion (for the ingest speed comparison) --------------------------------------
def ingest_default(
    paths: Sequence[Path | str], settings: Settings, embedder: Embedder | None = None
) -> tuple[float, int]:
    """Build a fresh index of `paths` the stock way into the Chroma collection `<collection>-baseline`.

    `SimpleDirectoryReader` over the files (folders recursively; formats without a llama-index reader
    installed are read as plain text), `VectorStoreIndex.from_documents` with its default ingestion (the
    default `SentenceSplitter`, 1024-token chunks with 200 overlap) and our embedder. Returns the seconds it
    took (reading included) and the number of passages stored.
    """
    import chromadb.errors
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from ingest.store import chroma_client

    embedder = embedder or build_embedder(settings)
    client = chroma_client(settings)
    name = f"{settings.collection}-baseline"
    with contextlib.suppress(chromadb.errors.NotFoundError, ValueError):
        client.delete_collection(name)
    collection = client.create_collection(name, embedding_function=None, metadata={"hnsw:space": "cosine"})
    started = time.perf_counter()
    files = [Path(p) for p in paths if Path(p).is_file()]
    documents = []
    if files:
        documents += SimpleDirectoryReader(input_files=files).load_data()
    for folder in (Path(p) for p in paths if Path(p).is_dir()):
        documents += SimpleDirectoryReader(input_dir=folder, recursive=True).load_data()
    storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
    VectorStoreIndex.from_documents(documents, storage_context=storage, embed_model=embedder)
    seconds = time.perf_counter() - started
    return seconds, int(collection.count())
