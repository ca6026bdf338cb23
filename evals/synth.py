"""Synthetic news archives for the benchmarks, made of real sentences reshuffled.

The sentences come from the seed articles (`seeds/`) and the ClapNQ dev corpus, read with the project's
own readers and split with `assistant.text.sentences`; each synthetic article draws a title (a short
sentence or the start of one), 4-12 paragraphs of 2-5 distinct sentences, a publication date between
2015 and late 2026, an agency and a URL. The same seed gives the same archive, byte for byte.

`synthetic_articles` yields the articles as pool indices, so a benchmark can build passages and their
vectors from sentence vectors computed once; `generate_archive` writes them as a `.jsonl` archive that
`python -m ingest` reads. Left out on purpose: any claim that the articles make sense (they do not), and
any randomness outside the seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCE_SOURCES = (ROOT / "seeds", ROOT / "evals" / "sets" / "clapnq_dev" / "corpus")

SOURCES = (
    "Qazinform News Agency",
    "Reuters",
    "Associated Press",
    "Agence France-Presse",
    "Xinhua",
    "Kyodo News",
    "Anadolu Agency",
    "EFE",
)
_FIRST_DAY = datetime(2015, 1, 1, tzinfo=UTC)
_LAST_DAY = datetime(2026, 11, 1, tzinfo=UTC)  # exclusive
_MINUTES = int((_LAST_DAY - _FIRST_DAY).total_seconds() // 60)
_MIN_WORDS, _MAX_WORDS = 4, 60
_TITLE_WORDS = 12


@dataclass(frozen=True)
class SynthArticle:
    """One synthetic article; sentences are indices into the pool it was drawn from."""

    id: str
    title: str
    title_sentence: int
    paragraphs: tuple[tuple[int, ...], ...]
    published: str  # ISO 8601, UTC, no offset (as the readers store dates)
    source: str
    url: str

    def text(self, pool: Sequence[str]) -> str:
        return "\n\n".join(" ".join(pool[i] for i in para) for para in self.paragraphs)

    def sentence_spans(self, pool: Sequence[str]) -> list[tuple[int, int, int]]:
        """(pool index, start, end) of every sentence in `text(pool)`, in order."""
        spans: list[tuple[int, int, int]] = []
        cursor = 0
        for p, para in enumerate(self.paragraphs):
            if p:
                cursor += 2  # "\n\n"
            for s, index in enumerate(para):
                if s:
                    cursor += 1  # " "
                spans.append((index, cursor, cursor + len(pool[index])))
                cursor += len(pool[index])
        return spans

    def record(self, pool: Sequence[str]) -> dict[str, str]:
        """The article as one `.jsonl` line (the fields `ingest.readers` reads)."""
        return {
            "id": self.id,
            "title": self.title,
            "text": self.text(pool),
            "published": self.published,
            "source": self.source,
            "url": self.url,
        }


def sentence_pool(roots: Sequence[Path] = SENTENCE_SOURCES) -> tuple[str, ...]:
    """The distinct sentences of the articles under `roots` (4 to 60 words, whitespace collapsed)."""
    return _pool(tuple(Path(r).resolve() for r in roots))


@cache
def _pool(roots: tuple[Path, ...]) -> tuple[str, ...]:
    from ingest.readers import find_files, read_file
    from ingest.sentences import sentences

    seen: dict[str, None] = {}
    for path, origin in find_files(roots):
        for article in read_file(path, origin, 50 * 1024 * 1024).articles:
            for sentence in [article.title, *sentences(article.text)]:
                flat = " ".join(sentence.split())
                if _MIN_WORDS <= len(flat.split()) <= _MAX_WORDS:
                    seen.setdefault(flat, None)
    if not seen:
        raise ValueError(f"no sentences found under {', '.join(map(str, roots))}")
    return tuple(seen)


def synthetic_articles(
    n_articles: int, seed: int = 0, pool: Sequence[str] | None = None
) -> Iterator[SynthArticle]:
    """`n_articles` articles drawn from `pool` (default: `sentence_pool()`), deterministic for `seed`."""
    pool = sentence_pool() if pool is None else pool
    if len(pool) < 2:
        raise ValueError("the sentence pool needs at least two sentences")
    rng = random.Random(seed)
    for number in range(n_articles):
        title_sentence = rng.randrange(len(pool))
        sizes = [rng.randint(2, 5) for _ in range(rng.randint(4, 12))]
        drawn = _draw(rng, len(pool), sum(sizes), exclude=title_sentence)
        paragraphs, at = [], 0
        for size in sizes:
            paragraphs.append(tuple(drawn[at : at + size]))
            at += size
        published = _FIRST_DAY + timedelta(minutes=rng.randrange(_MINUTES))
        source = SOURCES[rng.randrange(len(SOURCES))]
        article_id = f"synth-{seed}-{number:07d}"
        yield SynthArticle(
            id=article_id,
            title=_title(pool[title_sentence], rng),
            title_sentence=title_sentence,
            paragraphs=tuple(paragraphs),
            published=published.strftime("%Y-%m-%dT%H:%M:%S"),
            source=source,
            url=f"https://news.example/{_slug(source)}/{published:%Y/%m}/{article_id}",
        )


def generate_archive(out: Path, n_articles: int, seed: int = 0) -> Path:
    """Write `n_articles` synthetic articles to `out` (a `.jsonl` archive) and return its path."""
    out = Path(out)
    if out.suffix != ".jsonl":
        raise ValueError(f"{out} must end in .jsonl (the readers pick the format by suffix)")
    pool = sentence_pool()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for article in synthetic_articles(n_articles, seed, pool):
            handle.write(json.dumps(article.record(pool), ensure_ascii=False))
            handle.write("\n")
    return out


def _draw(rng: random.Random, size: int, k: int, exclude: int) -> list[int]:
    """`k` pool indices, distinct within the article when the pool allows it."""
    if k < size:
        picked = rng.sample(range(size), k + 1)
        return [i for i in picked if i != exclude][:k]
    return [rng.randrange(size) for _ in range(k)]  # a tiny pool: repeats allowed


def _title(sentence: str, rng: random.Random) -> str:
    """A short sentence as it is (without its full stop), or the first 6-10 words of a longer one."""
    words = sentence.split()
    if len(words) <= _TITLE_WORDS:
        return sentence.rstrip(" .")
    return " ".join(words[: rng.randint(6, 10)]).rstrip(" ,;:-")


def _slug(name: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())
