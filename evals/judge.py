"""Support judges: does this passage back this sentence?

`HeuristicJudge` is deterministic and model-free (an embedder may be passed in as a tie-breaker): every
number of the claim must be in the passage, its proper names should be, and most of its content words
(stemmed). `LLMJudge` asks a chat model with the prompt in `prompts/judge.txt` and reads yes/no.

Neither judge catches a wrong relation between words that are all present ("Cave In was formed in
California" against a passage naming Cave In and California for other reasons): the heuristic is a cheap
lexical check, calibrated on HaluEval QA (see `evals.calibrate`), not an entailment model.

The judge keeps its own text rules on purpose: it normalises, splits sentences and drops stopwords with the
evaluator's tools (`evals.metrics`) and its own word, number and name patterns, not with `assistant.text`,
which the grounding guards of the assistant use. A bug or a change there cannot make the judge agree with
the thing it judges, and the calibration figures below stay tied to these rules (changing them means
calibrating again).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from assistant.errors import PromptError
from assistant.prompts import default_dir, read_template
from assistant.settings import MODEL_BACKENDS

from .metrics import STOPWORDS, normalise_answer, split_sentences, strip_markers

if TYPE_CHECKING:
    from assistant.generation import ChatModel
    from assistant.settings import Settings

__all__ = [
    "CALIBRATION_DIR",
    "DEFAULT_THRESHOLD",
    "JUDGES",
    "PROMPT_PATH",
    "HeuristicJudge",
    "Judge",
    "LLMJudge",
    "PromptError",
    "build_judge",
    "calibration_path",
    "judge_id",
    "load_prompt",
    "parse_verdict",
    "stored_calibration",
]

PROMPT_PATH = default_dir() / "judge.txt"  # shipped with the other prompt templates

# Calibrated on the 300-row HaluEval QA sample (600 cases, claim = the answer text; evals/calibrate.py).
# Without embeddings: AUC 0.860; accuracy 0.850 at 0.85, 0.803 at 0.8, 0.878 at the sample's best
# threshold, 1.0. 1.0 is rejected: it demands every content word verbatim, while the sample's right
# answers are spans copied from the knowledge and real answer sentences paraphrase; 0.85 lets a sentence
# with seven or more content words differ in one (a number or a name still has to be there).
DEFAULT_THRESHOLD = 0.85
# Weight of the claim-passage cosine when an embedder is given: a tie-breaker only. On the sample the
# cosine alone has AUC 0.23 (hallucinated answers there are whole sentences restating the question, the
# right ones bare names: similarity tracks length, not support); at 0.05 accuracy at 0.85 is 0.855 and AUC
# 0.814. Prefer `embed=None` for scoring; with an embedder, only borderline claims move.
EMBED_WEIGHT = 0.05


@runtime_checkable
class Judge(Protocol):
    """Decides whether a passage supports a claim (one answer sentence, markers allowed)."""

    def supports(self, claim: str, passage: str) -> bool: ...

    def score(self, claim: str, passage: str) -> float: ...


# ---------------------------------------------------------------------------------------------------------
# Heuristic judge

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DIGIT_ONE = re.compile(r"(?<![\d.,])1(?![\d.,]*\d)")
_WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")
_NAME_CONNECTORS = frozenset({"of", "de", "da", "del", "der", "van", "von", "la", "le", "du", "al", "bin"})


def _crude_stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _make_stemmer() -> Callable[[list[str]], list[str]]:
    try:
        import Stemmer  # PyStemmer
    except ImportError:  # pragma: no cover - PyStemmer is a dependency, the fallback is for bare installs
        return lambda words: [_crude_stem(w) for w in words]
    stemmer = Stemmer.Stemmer("english")
    return lambda words: list(stemmer.stemWords(words))


class _Features:
    """What the heuristic checks of a claim: numbers, proper names and content-word stems."""

    def __init__(self, numbers: set[str], names: list[list[str]], stems: set[str]) -> None:
        self.numbers, self.names, self.stems = numbers, names, stems


def _is_capitalised(word: str) -> bool:
    return word[:1].isupper() or (len(word) > 1 and word.isupper())


def _names(text: str) -> list[list[str]]:
    """Proper names: runs of capitalised words ("Dos Sarbassov", "Bank of England"), as normalised tokens.

    A run that opens a sentence counts only if it still has two words once leading stopwords are dropped
    ("The Big Melt" -> "big melt"; a lone "Grandaddy" or "However" is left to the content words).
    """
    names: list[list[str]] = []
    for sentence in split_sentences(text):
        words = _WORD.findall(strip_markers(sentence))
        i = 0
        while i < len(words):
            if not _is_capitalised(words[i]):
                i += 1
                continue
            run, j = [words[i]], i + 1
            while j < len(words):
                if _is_capitalised(words[j]):
                    run.append(words[j])
                    j += 1
                elif words[j] in _NAME_CONNECTORS and j + 1 < len(words) and _is_capitalised(words[j + 1]):
                    run += words[j : j + 2]
                    j += 2
                else:
                    break
            tokens = normalise_answer(" ".join(run)).split()
            while tokens and tokens[0] in STOPWORDS:
                tokens.pop(0)
            while tokens and tokens[-1] in STOPWORDS:
                tokens.pop()
            tokens = [t for t in tokens if not _NUMBER.fullmatch(t)]
            if tokens and (i > 0 or len(tokens) >= 2):
                names.append(tokens)
            i = j
    return names


class HeuristicJudge:
    """Deterministic lexical judge: numbers must match, names should, content words mostly.

    score = content * names**2 (0 when a number of the claim is not in the passage), where `content` is the
    share of the claim's content-word stems found in the passage and `names` the share of its proper names
    whose words are all there. With `embed` (texts -> unit vectors), the score is mixed with the cosine of
    claim and passage at weight `embed_weight`. `supports` is `score >= threshold`.
    """

    def __init__(
        self,
        embed: Callable[[list[str]], np.ndarray] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        embed_weight: float = EMBED_WEIGHT,
    ) -> None:
        self.embed = embed
        self.threshold = threshold
        self.embed_weight = embed_weight if embed is not None else 0.0
        self._stem = _make_stemmer()
        self._vectors: dict[str, np.ndarray] = {}
        self._passages: dict[str, tuple[set[str], set[str]]] = {}

    # -- features --------------------------------------------------------------------------------------
    def _claim_features(self, claim: str) -> _Features:
        tokens = normalise_answer(claim).split()
        numbers = {t for t in tokens if _NUMBER.fullmatch(t)}
        if "1" in numbers and not _DIGIT_ONE.search(claim):
            numbers.discard("1")  # "one of the founders" is not a count to check
        words = [t for t in tokens if t not in STOPWORDS and not _NUMBER.fullmatch(t)]
        return _Features(numbers, _names(claim), set(self._stem(words)))

    def _passage_features(self, passage: str) -> tuple[set[str], set[str]]:
        """(normalised tokens, their stems) of a passage, cached."""
        cached = self._passages.get(passage)
        if cached is None:
            tokens = set(normalise_answer(passage).split())
            cached = (tokens, set(self._stem(sorted(tokens))))
            if len(self._passages) > 4096:
                self._passages.clear()
            self._passages[passage] = cached
        return cached

    # -- embeddings ------------------------------------------------------------------------------------
    def prime(self, texts: list[str]) -> None:
        """Embed `texts` in one batch ahead of scoring (no-op without an embedder)."""
        if self.embed is None:
            return
        todo = sorted({t for t in texts if t not in self._vectors})
        if todo:
            vectors = np.asarray(self.embed(todo), dtype=np.float32)
            self._vectors.update(zip(todo, vectors, strict=True))

    def _cosine(self, claim: str, passage: str) -> float:
        self.prime([claim, passage])
        value = float(np.dot(self._vectors[claim], self._vectors[passage]))
        return min(1.0, max(0.0, value))

    # -- judging ---------------------------------------------------------------------------------------
    def lexical_score(self, claim: str, passage: str) -> float:
        """The score without embeddings, in [0, 1]."""
        claim = strip_markers(claim)
        features = self._claim_features(claim)
        if not (features.numbers or features.names or features.stems):
            return 0.0  # nothing checkable ("Yes.", "") is not supported
        tokens, stems = self._passage_features(passage)
        if not features.numbers <= tokens:
            return 0.0
        content = len(features.stems & stems) / len(features.stems) if features.stems else 1.0
        names = sum(all(t in tokens for t in name) for name in features.names)
        name_share = names / len(features.names) if features.names else 1.0
        return content * name_share**2

    def score(self, claim: str, passage: str) -> float:
        """Support score in [0, 1]; 0 when a number of the claim is missing or nothing can be checked."""
        lexical = self.lexical_score(claim, passage)
        if self.embed is None or self.embed_weight <= 0 or lexical == 0.0:
            return lexical
        cosine = self._cosine(strip_markers(claim), passage)
        return (1 - self.embed_weight) * lexical + self.embed_weight * cosine

    def supports(self, claim: str, passage: str) -> bool:
        return self.score(claim, passage) >= self.threshold


# ---------------------------------------------------------------------------------------------------------
# LLM judge


_PROMPT_VARIABLES = frozenset({"passage", "claim"})
_YES = re.compile(r"^\W*(yes|supported|true)\b", re.IGNORECASE)
_NO = re.compile(r"^\W*(no|not supported|unsupported|false)\b", re.IGNORECASE)


def load_prompt(path: Traversable = PROMPT_PATH) -> str:
    """The judge prompt template: a str.format template using exactly {passage} and {claim}."""
    return read_template(path, _PROMPT_VARIABLES)


def parse_verdict(reply: str) -> bool | None:
    """True for a yes, False for a no, None when the reply says neither first."""
    text = (reply or "").strip()
    if _YES.match(text):
        return True
    if _NO.match(text):
        return False
    return None


class LLMJudge:
    """Asks a chat model (messages -> reply text) whether the passage supports the claim.

    An unparseable reply counts as not supported; the judge never raises on a reply. Verdicts are cached
    per (claim, passage): the citation metrics ask the same pair several times (a cache safe to drop).
    """

    def __init__(
        self,
        chat: Callable[[list[dict[str, str]]], str],
        template: str | None = None,
        name: str = "llm",
    ) -> None:
        self.chat = chat
        self.template = template if template is not None else load_prompt()
        self.threshold = 0.5
        self.name = name
        self._verdicts: dict[tuple[str, str], float] = {}

    @classmethod
    def from_model(cls, model: ChatModel, name: str, template: str | None = None) -> LLMJudge:
        """A judge asking one of the generator's chat models (a reply of a few tokens is enough)."""
        return cls(lambda messages: model.complete(messages, max_tokens=4), template, name)

    def score(self, claim: str, passage: str) -> float:
        key = (strip_markers(claim).strip(), passage.strip())
        verdict = self._verdicts.get(key)
        if verdict is None:
            prompt = self.template.format(passage=key[1], claim=key[0])
            reply = self.chat([{"role": "user", "content": prompt}])
            verdict = self._verdicts[key] = 1.0 if parse_verdict(reply) else 0.0
        return verdict

    def supports(self, claim: str, passage: str) -> bool:
        return self.score(claim, passage) >= self.threshold


# ---------------------------------------------------------------------------------------------------------
# Choosing a judge, and the calibration of record of each

JUDGES = ("heuristic", *MODEL_BACKENDS)  # a heuristic, or a language model of one of the backends
CALIBRATION_DIR = Path(__file__).resolve().parent / "calibration" / "judges"


def judge_id(kind: str, settings: Settings) -> str:
    """What a judge's verdicts depend on: its kind and, for an LLM judge, the model."""
    if kind == "heuristic":
        return f"heuristic-{DEFAULT_THRESHOLD}"
    if kind == "local":
        from assistant.model_files import GGUF_NAME

        return f"local-{GGUF_NAME.removesuffix('.gguf')}"
    if kind == "openai":
        return f"openai-{settings.llm_model}"
    raise ValueError(f"unknown judge {kind!r}: choose one of {', '.join(JUDGES)}")


def build_judge(kind: str, settings: Settings, chat_model: ChatModel | None = None) -> Judge:
    """The judge of `kind`; an LLM judge reuses `chat_model` when it is that backend's model."""
    name = judge_id(kind, settings)
    if kind == "heuristic":
        return HeuristicJudge()
    from assistant.generation import build_chat_model

    model = chat_model if chat_model is not None and chat_model.name == kind else None
    model = model or build_chat_model(settings, kind)
    assert model is not None  # local and openai always have a model
    return LLMJudge.from_model(model, name)


def calibration_path(name: str, directory: Path | None = None) -> Path:
    directory = CALIBRATION_DIR if directory is None else directory
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "judge"
    return directory / f"{safe}.json"


def stored_calibration(name: str, directory: Path | None = None) -> dict[str, Any] | None:
    """The calibration saved by `python -m evals.calibrate --judge ... --save` for the judge `name`."""
    try:
        data = json.loads(calibration_path(name, directory).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
