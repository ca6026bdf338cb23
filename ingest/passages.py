"""Splitting articles into passages: sentence-aware, with token budgets counted by tiktoken.

llama-index's `SentenceSplitter` does the splitting (paragraphs, then sentences, then phrases); this
module adds what a citation needs: each passage's exact character span in its article, its position,
and the article's metadata. A passage repeating an earlier one of its article (the same text up to
whitespace and case) is dropped: it would only crowd the results with copies. An article that is mostly
copies of itself (near-constant text: at least 20 passages, fewer than one in ten distinct) is flagged
for ingest to refuse. It leaves embedding and storage to the pipeline.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from .articles import Article, encode_holders


def _tiktoken_cache() -> None:
    """Point tiktoken at the encodings llama-index ships, so nothing is downloaded."""
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        spec = importlib.util.find_spec("llama_index.core")
        if spec is not None and spec.submodule_search_locations:
            package = Path(next(iter(spec.submodule_search_locations)))
            os.environ["TIKTOKEN_CACHE_DIR"] = str(package / "_static" / "tiktoken_cache")


@cache
def token_counter() -> Any:
    """The tiktoken encoder used for every token budget (cl100k_base, as llama-index's default)."""
    _tiktoken_cache()
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    return len(token_counter().encode(text, disallowed_special=()))


@dataclass(frozen=True)
class Passage:
    passage_id: str
    article: Article
    index: int
    text: str
    start: int  # character offsets of `text` in `article.text`
    end: int

    @classmethod
    def of(cls, article: Article, index: int, start: int, end: int) -> Passage:
        """The `index`-th passage of `article`, spanning `article.text[start:end]`. Its id names the
        article's content too, so a changed article never reuses the ids of its old passages."""
        return cls(
            passage_id=f"{article.article_id}:{article.content_hash}:{index}",
            article=article,
            index=index,
            text=article.text[start:end],
            start=start,
            end=end,
        )

    def embedding_text(self) -> str:
        """What is embedded and indexed: the title gives a passage its topic."""
        return f"{self.article.title}\n{self.text}"

    def metadata(self) -> dict[str, Any]:
        a = self.article
        return {
            "article_id": a.article_id,
            "content_hash": a.content_hash,
            "title": a.title,
            "published": a.published or "",
            "published_ts": published_ts(a.published),
            "source": a.source,
            "url": a.url,
            "origin": a.origin,
            "chunk_index": self.index,
            "start_char": self.start,
            "end_char": self.end,
            # what a reader found beyond the fields above (views, image credit, an unparsed date)
            **{f"extra_{key}": value for key, value in a.extra.items()},
            # the other places the same article came from (a second feed, a file): "also in ..."
            **({"also_in": encode_holders(a.also_in)} if a.also_in else {}),
        }


REPETITIVE_MIN_PASSAGES = 20  # shorter articles are never refused as repetitive
REPETITIVE_MAX_DISTINCT_SHARE = 0.1  # refused when fewer than this share of their passages are distinct


@dataclass(frozen=True)
class Split:
    """An article's distinct passages (indexed 0..n-1) and how many passages the splitter made of it."""

    passages: list[Passage]
    produced: int

    @property
    def repetition_problem(self) -> str | None:
        """Why the article is refused as near-constant text (see the module docstring), else None."""
        distinct = len(self.passages)
        if (
            self.produced < REPETITIVE_MIN_PASSAGES
            or distinct >= REPETITIVE_MAX_DISTINCT_SHARE * self.produced
        ):
            return None
        return (
            f"repetitive text: {self.produced} passages but only {distinct} distinct; refused, as its "
            "copies would crowd other articles out of every answer"
        )


def published_ts(published: str | None) -> int:
    """Epoch seconds of an ISO 8601 date (naive times taken as UTC), -1 when unknown."""
    if not published:
        return -1
    try:
        moment = datetime.fromisoformat(published)
    except ValueError:
        return -1
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


class PassageSplitter:
    """Splits an article into overlapping passages of at most `chunk_tokens` tiktoken tokens."""

    def __init__(self, chunk_tokens: int, chunk_overlap: int) -> None:
        from llama_index.core.node_parser import SentenceSplitter, TokenTextSplitter

        overlap = min(chunk_overlap, chunk_tokens // 2)
        encoder = token_counter()

        def tokenize(text: str) -> list[int]:
            return list(encoder.encode(text, disallowed_special=()))

        self.chunk_tokens = chunk_tokens
        self._sentences = SentenceSplitter(chunk_size=chunk_tokens, chunk_overlap=overlap, tokenizer=tokenize)
        self._tokens = TokenTextSplitter(chunk_size=chunk_tokens, chunk_overlap=overlap, tokenizer=tokenize)

    def split(self, article: Article) -> list[Passage]:
        """The article's distinct passages."""
        return self.split_article(article).passages

    def split_article(self, article: Article) -> Split:
        """The article's distinct passages and how many the splitter made (repeats included)."""
        text = article.text
        try:
            chunks = self._sentences.split_text(text)
        except ValueError:  # an indivisible run longer than the budget (e.g. a huge unbroken token)
            chunks = self._tokens.split_text(text)
        passages: list[Passage] = []
        seen: set[str] = set()
        produced = cursor = 0
        for chunk in chunks:
            chunk = chunk.strip()
            if not chunk:
                continue
            start, end = _locate(text, chunk, cursor)
            cursor = start + 1
            produced += 1
            key = " ".join(chunk.split()).casefold()
            if key not in seen:
                seen.add(key)
                passages.append(Passage.of(article, len(passages), start, end))
        return Split(passages, produced)


def _locate(text: str, chunk: str, cursor: int) -> tuple[int, int]:
    """Span of `chunk` in `text` at or after `cursor` (the splitter only ever returns substrings)."""
    start = text.find(chunk, cursor)
    if start < 0:
        start = text.find(chunk)
    if start < 0:  # whitespace inside the chunk differs: anchor on its first and last words
        head, tail = chunk[:40], chunk[-40:]
        start = max(text.find(head, cursor), 0)
        tail_at = text.find(tail, start)
        end = tail_at + len(tail) if tail_at >= 0 else min(len(text), start + len(chunk))
        return start, end
    return start, start + len(chunk)
