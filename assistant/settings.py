"""The one settings object of the product: the archive's settings (`ingest.settings`) and those of
retrieval, generation and the UI. Arguments, then `ASSISTANT_*` environment variables, then defaults.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, get_args

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from ingest.settings import ArchiveSettings, add_archive_flags, cores, settings_from_args, settings_table

ModelBackend = Literal["local", "openai"]  # a language model drafts the answer
Backend = Literal[ModelBackend, "extractive"]  # extractive: no model, the best sentences quoted
BACKENDS: tuple[str, ...] = get_args(Backend)  # the one list of backend names (CLI choices, messages)
MODEL_BACKENDS: tuple[str, ...] = get_args(ModelBackend)


class Settings(ArchiveSettings):
    """All configuration: the archive's (inherited), retrieval, generation and the UI."""

    # --- retrieval --------------------------------------------------------------------------------------
    candidates: int = Field(20, ge=1, le=200, description="Passages each retriever returns before fusion.")
    max_sources: int = Field(5, ge=1, le=12, description="Most passages the context draws sentences from.")
    context_tokens: int = Field(160, ge=40, le=6000, description="Token budget of the excerpts in a prompt.")
    min_relevance: float = Field(0.30, ge=0, le=1, description="Refuse below this dense similarity.")

    # --- generation -------------------------------------------------------------------------------------
    llm_backend: Backend = Field(
        "local",
        description="What drafts answers: local (the in-process Qwen2.5-1.5B), openai (an OpenAI-compatible "
        "server: vLLM, llama.cpp server, Ollama) or extractive (no model: the best sentences, quoted).",
    )
    llm_fallback: Literal["extractive"] | None = Field(
        "extractive", description="Answer extractively when the model backend fails; empty: fail instead."
    )
    llm_base_url: str | None = Field(None, description="The OpenAI-compatible server (openai backend).")
    llm_model: str = Field("default", description="The model name the OpenAI-compatible server is asked for.")
    llm_api_key: SecretStr = Field(SecretStr(""), description="Its API key (never logged).")
    llm_timeout: float = Field(60.0, gt=0, description="Seconds a model call may take before it fails.")
    llm_threads: int = Field(default_factory=cores, ge=1, description="Threads of the local model.")
    llm_context: int = Field(2048, ge=512, le=32768, description="The local model's context in tokens.")
    llm_max_tokens: int = Field(200, ge=16, le=2048, description="Most tokens of a drafted answer.")
    max_question_chars: int = Field(
        2000, ge=10, description="Longer questions are refused with a clear error."
    )
    answer_check: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Ask the model whether its answer answers the question and refuse below this P(yes); "
        "0 checks and records (Answer.answer_check) without refusing; unset: no check (saves a model call).",
    )

    # --- UI ---------------------------------------------------------------------------------------------
    ui_host: str = Field("127.0.0.1", description="Address the server binds (the chat page and the API).")
    ui_port: int = Field(7860, ge=1, le=65535, description="Its port.")
    ui_auth: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="user:password pairs, comma separated."
    )
    ui_login_free_attempts: int = Field(
        5, ge=1, description="Wrong passwords a client may try before sign-in pauses."
    )
    ui_login_max_pause: float = Field(
        300.0, gt=0, description="Longest pause in seconds after repeated wrong passwords."
    )
    ui_max_upload_mb: float = Field(10.0, gt=0, description="Largest file the Archive tab takes, in MB.")
    ui_max_upload_files: int = Field(20, ge=1, description="Most files one upload takes.")

    # --- the server (see `assistant.serve`) ----------------------------------------------------------------
    max_body_mb: float = Field(
        1.0,
        gt=0,
        description="Largest request body in MB the server reads (the API's and the page's events; uploads "
        "have ui_max_upload_mb); a larger one gets 413.",
    )
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses (or networks, or *) of the reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto headers are trusted, comma separated; empty: none (the TCP peer is the client).",
    )

    # --- feeds the server polls (see `assistant.ui_feeds`) -----------------------------------------------
    feeds: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Feed or page URLs the server polls, comma separated (beside those added in the UI).",
    )
    feed_interval: float = Field(
        900.0,
        ge=10,
        description="Seconds between the server's polls of the feeds (from one start to the next).",
    )

    # --- OpenAI-compatible API (served beside the UI, see `assistant.api`) ---------------------------------
    api_enabled: bool = Field(True, description="Serve the API under /v1 beside the chat UI.")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Bearer keys, comma separated; when set every /v1 route needs one. Required to serve "
        "the API beyond loopback.",
    )
    api_queue_size: int = Field(
        8, ge=0, le=1000, description="API requests that may wait while the model answers; more get 429."
    )
    api_queue_timeout: float = Field(
        120.0, gt=0, description="Seconds an API request waits for the model before it gets 503."
    )

    @field_validator("llm_fallback", mode="before")
    @classmethod
    def _no_fallback(cls, value: object) -> object:
        """An empty value (`ASSISTANT_LLM_FALLBACK=`) or "none" turns the fallback off."""
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
            return None
        return value

    @field_validator("feeds")
    @classmethod
    def _check_feeds(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.lower().startswith(("http://", "https://")):
                raise ValueError(f"ASSISTANT_FEEDS takes http(s) URLs separated by commas, not {url!r}")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    "ASSISTANT_FORWARDED_ALLOW_IPS takes IP addresses or networks (or *) separated by "
                    f"commas, not {entry!r}"
                ) from None
        return value

    @field_validator("ui_auth", "api_keys", "feeds", "forwarded_allow_ips", mode="before")
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

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for key in value:
            secret = key.get_secret_value()
            if not secret or any(c.isspace() for c in secret):
                raise ValueError("ASSISTANT_API_KEYS takes keys without spaces, separated by commas")
        return value


__all__ = [
    "BACKENDS",
    "MODEL_BACKENDS",
    "ArchiveSettings",
    "Backend",
    "ModelBackend",
    "Settings",
    "add_archive_flags",
    "settings_from_args",
    "settings_table",
]
