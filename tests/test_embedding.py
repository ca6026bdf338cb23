"""The embedders: batch size changes speed, never the vectors; the remote embedder batches its requests."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from assistant.settings import Settings
from ingest.embedding import DIMENSIONS, ArchiveEmbedding, RemoteEmbedding, build_embedder

TEXTS = [
    "The biopharma plant will create more than 180 permanent jobs.",
    "Astana",
    "Hybrid operating rooms enable more than 350 high-tech surgeries a year. " * 12,
    "",
    "Қазақстан 🚕",
] * 3


def test_batch_size_does_not_change_the_vectors(embedder: ArchiveEmbedding) -> None:
    original = embedder.embed_batch_size
    try:
        embedder.embed_batch_size = 1
        one = embedder.encode(TEXTS)
        embedder.embed_batch_size = 32
        many = embedder.encode(TEXTS)
    finally:
        embedder.embed_batch_size = original
    assert one.shape == (len(TEXTS), DIMENSIONS)
    np.testing.assert_allclose(one, many, atol=2e-3)
    np.testing.assert_allclose(np.linalg.norm(one, axis=1), 1.0, atol=1e-4)


@pytest.fixture
def embeddings_server() -> Iterator[tuple[str, list[int]]]:
    """An OpenAI-compatible /v1/embeddings endpoint that records how many texts each request carried."""
    sizes: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            texts = body["input"]
            sizes.append(len(texts))
            data = [
                {"object": "embedding", "index": i, "embedding": [float(len(t) + 1)] + [1.0] * 3}
                for i, t in enumerate(texts)
            ]
            payload = json.dumps({"object": "list", "data": data, "model": body["model"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", sizes
    finally:
        server.shutdown()


def test_remote_embedder_sends_big_batches_and_keeps_order(embeddings_server: tuple[str, list[int]]) -> None:
    url, sizes = embeddings_server
    embedder = build_embedder(Settings(embed_base_url=url, embed_batch=4))
    assert isinstance(embedder, RemoteEmbedding)
    texts = [f"text {'x' * i}" for i in range(130)]
    vectors = embedder.encode(texts)
    assert sizes == [64, 64, 2]  # the local batch size (4) would have meant 33 requests
    assert vectors.shape == (130, 4)
    raw_first = np.array([len(t) + 1 for t in texts], dtype=np.float32)
    expected = raw_first / np.sqrt(raw_first**2 + 3)
    np.testing.assert_allclose(vectors[:, 0], expected, rtol=1e-5)  # row i belongs to text i
