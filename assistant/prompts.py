"""Prompt templates, loaded from the `prompts` package (its data files) and validated at start.

Each template is a `str.format` template whose variables are fixed here; a template that lacks one of
them, or uses one that is not provided, is a `PromptError` that names the file and the variable. The
few-shot examples are data (`examples.json`) rendered with the same passage and question templates as
real questions, so the model sees the exact format it must follow.
"""

from __future__ import annotations

import importlib.resources
import json
import string
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Any

from .errors import PromptError

PACKAGE = "prompts"


def default_dir() -> Traversable:
    """The templates shipped with the code: the `prompts` package's files, wherever it is installed."""
    return importlib.resources.files(PACKAGE)


# file -> the variables it must use, and those it may use besides
_TEMPLATES: dict[str, frozenset[str]] = {
    "system.txt": frozenset({"refusal"}),
    "question.txt": frozenset({"passages", "question"}),
    "passage.txt": frozenset({"n", "text"}),
    "condense.txt": frozenset({"history", "question"}),
    "condense_english.txt": frozenset({"history", "question"}),
    "verify.txt": frozenset({"question"}),
    "translate.txt": frozenset({"language", "text"}),
    "refusal.txt": frozenset(),
}
_OPTIONAL: dict[str, frozenset[str]] = {
    "passage.txt": frozenset({"title", "published", "source"}),
    "question.txt": frozenset(),
    "translate.txt": frozenset({"glossary"}),  # the names and roles to write as given, or ''
}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _read(directory: Traversable, name: str) -> str:
    return read_template(directory / name, _TEMPLATES[name], _OPTIONAL.get(name, frozenset()))


def read_template(path: Traversable, need: frozenset[str], optional: frozenset[str] = frozenset()) -> str:
    """The str.format template in `path`, which must use every variable of `need` and none beyond `need`
    and `optional`; `PromptError` names the file and the variable otherwise."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PromptError(f"prompt file {path} cannot be read: {exc.strerror or exc}") from exc
    if not text:
        raise PromptError(f"prompt file {path} is empty")
    try:
        used = _fields(text)
    except ValueError as exc:
        raise PromptError(f"prompt file {path} is not a valid template: {exc}") from exc
    allowed = need | optional
    for missing in sorted(need - used):
        raise PromptError(f"prompt file {path} does not use the variable {{{missing}}}")
    for unknown in sorted(used - allowed):
        raise PromptError(
            f"prompt file {path} uses {{{unknown}}}, which is not provided (only {sorted(allowed)})"
        )
    return text


@dataclass(frozen=True)
class PromptPassage:
    n: int
    title: str
    published: str
    source: str
    text: str


@dataclass(frozen=True)
class Prompts:
    system: str
    question: str
    passage: str
    condense: str
    condense_english: str
    verify: str
    translate: str
    refusal: str
    examples: tuple[dict[str, Any], ...]

    @classmethod
    def load(cls, directory: Traversable | None = None) -> Prompts:
        """The templates in `directory` (a `Path` will do; default: those shipped in `prompts`)."""
        directory = directory or default_dir()
        texts = {name: _read(directory, name) for name in _TEMPLATES}
        refusal = texts["refusal.txt"]
        examples_path = directory / "examples.json"
        try:
            examples = json.loads(examples_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PromptError(f"prompt file {examples_path} cannot be read as JSON: {exc}") from exc
        for i, example in enumerate(examples):
            for key in ("passages", "question", "answer"):
                if key not in example:
                    raise PromptError(f"{examples_path}: example {i + 1} lacks {key!r}")
        return cls(
            system=texts["system.txt"].format(refusal=refusal),
            question=texts["question.txt"],
            passage=texts["passage.txt"],
            condense=texts["condense.txt"],
            condense_english=texts["condense_english.txt"],
            verify=texts["verify.txt"],
            translate=texts["translate.txt"],
            refusal=refusal,
            examples=tuple(examples),
        )

    def render_passages(self, passages: list[PromptPassage]) -> str:
        return "\n\n".join(
            self.passage.format(
                n=p.n,
                title=p.title,
                published=p.published or "undated",
                source=p.source or "unknown",
                text=p.text,
            )
            for p in passages
        )

    def user_message(self, question: str, passages: list[PromptPassage], today: str = "") -> str:
        """The question with its passages; `today` ("7 January 2026"), when given, is said first. Only
        questions about a time get it: on every question the line cost the 1.5B model 4 of 19 right
        answers on seeds_dev (89.5% -> 68.4%)."""
        text = self.question.format(passages=self.render_passages(passages), question=question)
        return f"Today is {today}.\n\n{text}" if today else text

    def answer_messages(
        self, question: str, passages: list[PromptPassage], today: str = ""
    ) -> list[dict[str, str]]:
        """System prompt, few-shot turns, then the question: a stable prefix the local model caches.
        `today` is the day the question is asked ("7 January 2026"), given for questions about a time; the
        examples carry none, so the prefix never changes."""
        messages = [{"role": "system", "content": self.system}]
        for example in self.examples:
            shots = [
                PromptPassage(
                    n=i + 1, title=p["title"], published=p["published"], source=p["source"], text=p["text"]
                )
                for i, p in enumerate(example["passages"])
            ]
            messages.append({"role": "user", "content": self.user_message(example["question"], shots)})
            messages.append({"role": "assistant", "content": example["answer"].format(refusal=self.refusal)})
        messages.append({"role": "user", "content": self.user_message(question, passages, today)})
        return messages

    def verify_messages(
        self, question: str, passages: list[PromptPassage], answer: str, today: str = ""
    ) -> list[dict[str, str]]:
        """The answer conversation with the answer given and a yes/no check of it appended: the model
        continues its own context, so only the check's few tokens are new."""
        return [
            *self.answer_messages(question, passages, today),
            {"role": "assistant", "content": answer},
            {"role": "user", "content": self.verify.format(question=question)},
        ]

    def condense_messages(
        self, history: str, question: str, *, english: bool = False
    ) -> list[dict[str, str]]:
        """The follow-up rewritten to stand alone; `english`: and in English, whatever its language."""
        template = self.condense_english if english else self.condense
        return [{"role": "user", "content": template.format(history=history, question=question)}]

    def translate_messages(
        self, text: str, language: str, keep: Sequence[tuple[str, str]] = ()
    ) -> list[dict[str, str]]:
        """The translation request; `keep` (English, translated) pairs: names and roles written as given."""
        glossary = (
            "Write these names and titles exactly so: "
            + "; ".join(f"{english} = {translated}" for english, translated in keep)
            + ".\n\n"
            if keep
            else ""
        )
        content = self.translate.format(language=language, text=text, glossary=glossary)
        return [{"role": "user", "content": content}]
