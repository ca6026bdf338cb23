"""Chat models behind one small interface: the in-process GGUF model (llama.cpp) or an OpenAI-compatible
server (vLLM, llama.cpp server, Ollama). `generators.py` turns them (and the model-free extractive
generator) into what drafts answers.

`ChatModel.stream()` yields text deltas; both implementations turn their failures into `GeneratorError`
with a message that says what to check. Temperature is 0: answers are reproducible.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, GeneratorError, ModelUnavailableError
from .settings import Settings

Messages = list[dict[str, str]]

_N_BATCH = 256
_STATE_MAGIC = b"news-assistant llama state 1\n"


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatModel(ABC):
    """A chat model that streams its reply."""

    name: str = "chat"

    def __init__(self) -> None:
        self.last_usage = Usage()

    @abstractmethod
    def stream(self, messages: Messages, *, max_tokens: int, stop: list[str] | None = None) -> Iterator[str]:
        """Text deltas of the reply to `messages`."""

    def complete(self, messages: Messages, *, max_tokens: int, stop: list[str] | None = None) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, stop=stop))

    def warm_up(self, messages: Messages) -> None:
        """Load the model and cache the fixed prompt prefix (nothing to do where that is the server's job)."""
        return None

    def yes_probability(self, messages: Messages) -> float | None:
        """P("yes") against P("no") as the first word of the reply to `messages` (a yes/no check), read
        from the model's next-token distribution; None where the backend cannot tell."""
        return None


class LocalChatModel(ChatModel):
    """Qwen2.5-Coder-1.5B-Instruct (GGUF, from PyPI packages) in-process through llama-cpp-python.

    The model is loaded on first use. llama.cpp reuses the evaluated prefix of the previous prompt; the
    state after the fixed system prompt and examples is also saved at warm-up and restored when another
    prompt (the condense step) ran in between, so that prefix is evaluated once per process. One
    generation at a time: calls are serialised.
    """

    name = "local"

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self._llm: Any = None
        self._lock = threading.Lock()
        self._prefix_states: dict[str, Any] = {}  # system prompt -> state after the fixed prefix
        self._last_system: str | None = None
        self.prefix_source = ""  # how warm_up() got the prefix: "evaluated" or "file"

    def _load(self) -> Any:
        if self._llm is None:
            from .model_files import ensure_gguf

            path = ensure_gguf(self.settings.model_cache_dir)
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - a base dependency
                raise ModelUnavailableError("llama-cpp-python is not installed; run `make install`") from exc
            try:
                llm = Llama(
                    model_path=str(path),
                    n_ctx=self.settings.llm_context,
                    n_threads=self.settings.llm_threads,
                    n_threads_batch=self.settings.llm_threads,
                    n_batch=_N_BATCH,
                    chat_format="chatml",
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ModelUnavailableError(f"the local model {path} cannot be loaded: {exc}") from exc
            self._llm = llm
        return self._llm

    def count_tokens(self, text: str) -> int:
        return len(self._load().tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def warm_up(self, messages: Messages) -> None:
        """Evaluate the fixed prompt prefix of `messages`, or restore it from the state saved on disk by
        an earlier process (prompt evaluation runs at ~55 tokens/s on two cores: the ~500-token prefix
        costs ~9 s to evaluate and ~0.1 s to restore)."""
        with self._lock:
            llm = self._load()
            path = self._state_path(messages)
            state = _restore_state_file(llm, path)
            if state is not None:
                self.prefix_source = "file"
            else:
                llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)
                self.prefix_source = "evaluated"
                state = _snapshot(llm)
                _save_state_file(state, path)
            system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
            self._prefix_states[system] = state
            self._last_system = system

    def _state_path(self, messages: Messages) -> Path:
        """Where the state after `messages` is kept: named by everything the state depends on."""
        import llama_cpp

        from .model_files import GGUF_SHA256

        key = json.dumps(
            [GGUF_SHA256, llama_cpp.__version__, self.settings.llm_context, _N_BATCH, messages],
            ensure_ascii=False,
        )
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        return self.settings.model_cache_dir / "prompt-states" / f"{digest}.state"

    def _restore_prefix(self, messages: Messages) -> None:
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        if system != self._last_system and system in self._prefix_states:
            self._llm.load_state(self._prefix_states[system])
        self._last_system = system

    def stream(self, messages: Messages, *, max_tokens: int, stop: list[str] | None = None) -> Iterator[str]:
        with self._lock:
            llm = self._load()
            self._restore_prefix(messages)
            self.last_usage = Usage(prompt_tokens=sum(self.count_tokens(m["content"]) + 4 for m in messages))
            try:
                chunks = llm.create_chat_completion(
                    messages=messages, max_tokens=max_tokens, temperature=0.0, stream=True, stop=stop or []
                )
                for chunk in chunks:
                    delta = chunk["choices"][0]["delta"].get("content")
                    if delta:
                        self.last_usage.completion_tokens += 1
                        yield delta
            except (ValueError, RuntimeError) as exc:
                raise GeneratorError(f"the local model failed: {exc}") from exc

    def yes_probability(self, messages: Messages) -> float | None:
        """Evaluates only what `messages` adds to the context already evaluated (a check appended to the
        answer just generated costs ~40 tokens) and reads the logits of the next token."""
        import numpy as np
        from llama_cpp.llama_chat_format import format_chatml

        with self._lock:
            llm = self._load()
            prompt = format_chatml(messages).prompt
            tokens = llm.tokenize(prompt.encode("utf-8"), special=True)
            if not tokens or len(tokens) >= llm.n_ctx():
                return None
            cached = llm.input_ids[: llm.n_tokens].tolist()
            common = 0
            for a, b in zip(cached, tokens, strict=False):
                if a != b:
                    break
                common += 1
            common = min(common, len(tokens) - 1)  # the last token is evaluated for its logits
            try:
                llm.n_tokens = common
                llm.eval(tokens[common:])
            except (ValueError, RuntimeError) as exc:
                raise GeneratorError(f"the local model failed: {exc}") from exc
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
            yes = _first_tokens(llm, ("Yes", "yes", " Yes", " yes", "YES"))
            no = _first_tokens(llm, ("No", "no", " No", " no", "NO"))
            return _share(logits, yes, no)


def _first_tokens(llm: Any, words: tuple[str, ...]) -> list[int]:
    return sorted({llm.tokenize(w.encode("utf-8"), add_bos=False, special=False)[0] for w in words})


def _share(logits: Any, yes: list[int], no: list[int]) -> float:
    """exp-sum of the yes tokens over that of the yes and no tokens (a softmax restricted to them)."""
    import numpy as np

    chosen = np.concatenate([logits[yes], logits[no]])
    weights = np.exp(chosen - chosen.max())
    return float(weights[: len(yes)].sum() / weights.sum())


def _snapshot(llm: Any) -> Any:
    """The model's state (KV cache and evaluated tokens) without llama-cpp-python's copy of the logits
    buffer, which is only read when every position's logits are kept (logits_all) and is ~150 MB here."""
    state = llm.save_state()
    state.scores = state.scores[:1].copy()
    return state


def _save_state_file(state: Any, path: Path) -> None:
    """Write a model state atomically: magic line, JSON header (tokens, checksum), state bytes. A
    failure to write only costs the next process the prefix evaluation."""
    header = {
        "n_tokens": int(state.n_tokens),
        "input_ids": [int(t) for t in state.input_ids[: state.n_tokens]],
        "size": int(state.llama_state_size),
        "sha256": hashlib.sha256(state.llama_state).hexdigest(),
    }
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".state-", dir=path.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(_STATE_MAGIC + json.dumps(header).encode("ascii") + b"\n")
            out.write(state.llama_state)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError:
        pass
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)


def _restore_state_file(llm: Any, path: Path) -> Any:
    """Load a state written by `_save_state_file` into `llm` and return it; None (and the file removed)
    when it is missing, damaged or does not fit this model."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        import numpy as np
        from llama_cpp import LlamaState

        if not data.startswith(_STATE_MAGIC):
            raise ValueError("not a state file")
        line_end = data.index(b"\n", len(_STATE_MAGIC))
        header = json.loads(data[len(_STATE_MAGIC) : line_end])
        blob = data[line_end + 1 :]
        n_tokens = int(header["n_tokens"])
        if len(blob) != header["size"] or hashlib.sha256(blob).hexdigest() != header["sha256"]:
            raise ValueError("checksum mismatch")
        if not 0 < n_tokens <= llm.n_ctx() or len(header["input_ids"]) != n_tokens:
            raise ValueError("token count does not fit")
        input_ids = np.zeros(llm.n_ctx(), dtype=np.intc)
        input_ids[:n_tokens] = header["input_ids"]
        scores = np.zeros((1, llm.n_vocab()), dtype=np.single)
        state = LlamaState(input_ids, scores, n_tokens, blob, len(blob), llm._seed)
    except (ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)
        return None
    try:
        llm.load_state(state)
    except (ValueError, RuntimeError):
        llm.reset()  # nothing of the half-loaded state is trusted: the prefix is evaluated afresh
        path.unlink(missing_ok=True)
        return None
    return state


class OpenAIChatModel(ChatModel):
    """Any OpenAI-compatible `/v1/chat/completions` server (vLLM, llama.cpp server, Ollama, OpenAI)."""

    name = "openai"

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        if not settings.llm_base_url:
            raise GeneratorError(
                "the openai backend needs a server: set ASSISTANT_LLM_BASE_URL (e.g. http://127.0.0.1:8080/v1)"
            )
        from openai import OpenAI

        self.settings = settings
        self._client = OpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value() or "not-needed",
            timeout=settings.llm_timeout,
            max_retries=1,
        )

    def stream(self, messages: Messages, *, max_tokens: int, stop: list[str] | None = None) -> Iterator[str]:
        import openai

        self.last_usage = Usage()
        where = f"the LLM server at {self.settings.llm_base_url}"
        try:
            response = self._client.chat.completions.create(  # type: ignore[call-overload]
                model=self.settings.llm_model,
                messages=messages,
                max_tokens=max_tokens,
                temperature=0.0,
                stream=True,
                stop=stop or None,
                stream_options={"include_usage": True},
            )
            for chunk in response:
                if chunk.usage is not None:
                    self.last_usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.APITimeoutError as exc:
            raise GeneratorError(f"{where} did not answer within {self.settings.llm_timeout:.0f} s") from exc
        except openai.APIConnectionError as exc:
            raise GeneratorError(f"{where} is unreachable; is it running?") from exc
        except openai.AuthenticationError as exc:
            raise GeneratorError(f"{where} refused the API key (ASSISTANT_LLM_API_KEY)") from exc
        except openai.APIStatusError as exc:
            raise GeneratorError(f"{where} answered HTTP {exc.status_code}: {_short(exc.message)}") from exc


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


CHAT_MODELS: dict[str, type[ChatModel]] = {model.name: model for model in (LocalChatModel, OpenAIChatModel)}


def build_chat_model(settings: Settings, backend: str | None = None) -> ChatModel:
    """The chat model of a backend (default: `llm_backend`)."""
    backend = backend or settings.llm_backend
    try:
        chat_model = CHAT_MODELS[backend]
    except KeyError:
        raise ConfigError(
            f"the {backend!r} backend has no chat model: ASSISTANT_LLM_BACKEND must be "
            f"{' or '.join(CHAT_MODELS)} for this"
        ) from None
    return chat_model(settings)  # type: ignore[call-arg]
