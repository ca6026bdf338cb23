"""The one settings object: arguments, then `ASSISTANT_*` environment variables, then defaults.

Built once at the edge (CLI, UI, tests) and passed down; nothing reads the environment elsewhere.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .errors import ConfigError

Backend = Literal["local", "openai", "extractive"]


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class Settings(BaseSettings):
    """All configuration of ingest, the query engine, the UI and the evals."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore", validate_default=True)

    # --- the archive -------------------------------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Embedded Chroma store, lexical index and ingest state.")
    collection: str = Field("articles", min_length=3, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]+$")
    chroma_host: str | None = Field(None, description="Chroma server host; unset means the embedded store.")
    chroma_port: int = Field(8000, ge=1, le=65535)
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
    embed_threads: int = Field(default_factory=_cores, ge=1)
    embed_base_url: str | None = Field(None, description="OpenAI-compatible embeddings endpoint (optional).")
    embed_model: str = Field("all-MiniLM-L6-v2", description="Model name sent to the remote embedder.")

    # --- retrieval --------------------------------------------------------------------------------------
    candidates: int = Field(20, ge=1, le=200, description="Passages each retriever returns before fusion.")
    max_sources: int = Field(5, ge=1, le=12, description="Most passages the context draws sentences from.")
    context_tokens: int = Field(160, ge=40, le=6000, description="Token budget of the excerpts in a prompt.")
    min_relevance: float = Field(0.30, ge=0, le=1, description="Refuse below this dense similarity.")

    # --- generation -------------------------------------------------------------------------------------
    llm_backend: Backend = "local"
    llm_fallback: Literal["extractive"] | None = Field(
        "extractive", description="Answer extractively when the model backend fails; empty: fail instead."
    )
    llm_base_url: str | None = None
    llm_model: str = "default"
    llm_api_key: SecretStr = SecretStr("")
    llm_timeout: float = Field(60.0, gt=0)
    llm_threads: int = Field(default_factory=_cores, ge=1)
    llm_context: int = Field(2048, ge=512, le=32768)
    llm_max_tokens: int = Field(200, ge=16, le=2048)
    model_cache_dir: Path = Field(Path.home() / ".cache" / "news-assistant")
    max_question_chars: int = Field(2000, ge=10)
    answer_check: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Ask the model whether its answer answers the question and refuse below this P(yes); "
        "0 checks and records (Answer.answer_check) without refusing; unset: no check (saves a model call).",
    )

    # --- UI ---------------------------------------------------------------------------------------------
    ui_host: str = "127.0.0.1"
    ui_port: int = Field(7860, ge=1, le=65535)
    ui_auth: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="user:password pairs, comma separated."
    )
    ui_login_free_attempts: int = Field(
        5, ge=1, description="Wrong passwords a client may try before sign-in pauses."
    )
    ui_login_max_pause: float = Field(
        300.0, gt=0, description="Longest pause in seconds after repeated wrong passwords."
    )
    ui_max_upload_mb: float = Field(10.0, gt=0)
    ui_max_upload_files: int = Field(20, ge=1)

    @field_validator("llm_fallback", mode="before")
    @classmethod
    def _no_fallback(cls, value: object) -> object:
        """An empty value (`ASSISTANT_LLM_FALLBACK=`) or "none" turns the fallback off."""
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
            return None
        return value

    @model_validator(mode="after")
    def _check_overlap(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(
                f"ASSISTANT_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than ASSISTANT_CHUNK_TOKENS "
                f"({self.chunk_tokens}): neighbouring passages overlap by part of a passage"
            )
        return self

    @field_validator("ui_auth", mode="before")
    @classmethod
    def _split_auth(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("ui_auth")
    @classmethod
    def _check_auth(cls, value: list[SecretStr]) -> list[SecretStr]:
        for pair in value:
            user, sep, password = pair.get_secret_value().partition(":")
            if not sep or not user or not password:
                raise ValueError("ASSISTANT_UI_AUTH takes user:password pairs separated by commas")
        return value

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def state_dir(self) -> Path:
        """Ingest manifest, lock and lexical index of the collection."""
        return self.data_dir / "state" / self.collection


def add_archive_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every command shares; each overrides its `ASSISTANT_*` variable."""
    group = parser.add_argument_group("archive (flags override ASSISTANT_* environment variables)")
    group.add_argument("--data-dir", type=Path, help="data directory (ASSISTANT_DATA_DIR, default ./data)")
    group.add_argument("--collection", help="collection name (ASSISTANT_COLLECTION, default 'articles')")
    group.add_argument("--chroma-host", help="use the Chroma server on this host (ASSISTANT_CHROMA_HOST)")
    group.add_argument(
        "--chroma-port", type=int, help="Chroma server port (ASSISTANT_CHROMA_PORT, default 8000)"
    )


def settings_from_args(args: argparse.Namespace, **extra: Any) -> Settings:
    """Settings from the environment with every flag the user gave laid over it."""
    names = Settings.model_fields.keys()
    overrides = {k: v for k, v in vars(args).items() if k in names and v is not None}
    overrides.update({k: v for k, v in extra.items() if v is not None})
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'} (ASSISTANT_{str(e['loc'][0]).upper()}): {e['msg']}"
            if e["loc"]
            else e["msg"]
            for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
