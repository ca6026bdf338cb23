"""The query engine with a scripted fake LLM over the real seeded archive: guards, refusal, condense, API."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import Answer, Citation, Settings, TextDelta
from assistant.errors import EmptyArchiveError, PromptError, QuestionError
from assistant.generation import Messages
from assistant.prompts import Prompts
from assistant.types import NoteKind
from ingest.embedding import ArchiveEmbedding

from .conftest import ScriptedChat, make_bot, passage_numbers

REFUSAL = "The articles do not say."


def test_a_grounded_answer_keeps_its_valid_citation(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    def cite_the_jobs_passage(messages: Messages) -> str:
        n = next(n for n, text in passage_numbers(chat).items() if "180 permanent jobs" in text)
        return f"The plant is expected to create more than 180 permanent jobs [{n}]."

    chat = ScriptedChat(cite_the_jobs_passage)
    bot = make_bot(seeded_dir, embedder, chat)
    answer = bot.ask("How many jobs will the biopharma plant create?")
    assert not answer.refused
    n = answer.citations[0].n if answer.citations else 0
    assert answer.text == f"The plant is expected to create more than 180 permanent jobs [{n}]."
    [citation] = answer.citations
    assert isinstance(citation, Citation)
    assert "180 permanent jobs" in citation.supporting_text
    assert citation.title == "Kazakhstan to build full-cycle biopharma hub"
    assert citation.published.startswith("2026-01-01T16:52")
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.text = "changed"  # type: ignore[misc]


def test_the_prompt_prefix_is_prepared_once_before_the_first_answer(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    class Warming(ScriptedChat):
        def __init__(self, *replies: str) -> None:
            super().__init__(*replies)
            self.events: list[str] = []

        def warm_up(self, messages: Messages) -> None:
            self.events.append("warm_up")
            assert messages == Prompts.load().answer_messages("warm up", [])

        def stream(
            self, messages: Messages, *, max_tokens: int, stop: list[str] | None = None
        ) -> Iterator[str]:
            self.events.append("stream")
            return super().stream(messages, max_tokens=max_tokens, stop=stop)

    reply = "The plant is expected to create more than 180 permanent jobs [1]."
    chat = Warming(reply, reply)
    bot = make_bot(seeded_dir, embedder, chat)  # no warm_up() call, as in `python -m assistant ask`
    for _ in range(2):
        assert "180" in bot.ask("How many jobs will the biopharma plant create?").text
    assert chat.events == ["warm_up", "stream", "stream"]


def test_warm_up_loads_the_vector_index_too(
    seeded_dir: Path, embedder: ArchiveEmbedding, tmp_path: Path
) -> None:
    """Chroma reads a collection's vector index on its first search (~1 s per 100k passages): warm_up()
    makes that search, so the reader's first question does not wait for it."""
    from assistant.retrieval import HybridRetriever
    from ingest.store import PassageStore

    searches: list[int] = []

    class Counting(PassageStore):
        def query(self, embedding, n, within=None):  # type: ignore[no-untyped-def]
            searches.append(n)
            return super().query(embedding, n, within)

    settings = Settings(data_dir=seeded_dir)
    store = Counting(settings)
    HybridRetriever(settings, store, embedder).warm_up()
    assert searches == [1]
    empty = Settings(data_dir=tmp_path / "empty")
    HybridRetriever(empty, Counting(empty), embedder).warm_up()  # an empty archive warms up too
    assert searches == [1, 1]


def test_markers_to_missing_passages_are_dropped_and_renumbered(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    chat = ScriptedChat("The plant will create more than 180 permanent jobs [9][1].")
    answer = make_bot(seeded_dir, embedder, chat).ask("How many jobs will the biopharma plant create?")
    assert answer.text.endswith("[1].") and "[9]" not in answer.text
    assert [c.n for c in answer.citations] == [1]
    assert answer.noted(NoteKind.MARKER_DROPPED)


def test_an_unsupported_sentence_is_removed(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    chat = ScriptedChat(
        "The plant will create more than 180 permanent jobs [1]. "
        "It will also employ 5,000 engineers from Germany [1]."
    )
    answer = make_bot(seeded_dir, embedder, chat).ask("How many jobs will the biopharma plant create?")
    assert "180" in answer.text and "5,000" not in answer.text and "Germany" not in answer.text
    assert answer.noted(NoteKind.UNSUPPORTED_REMOVED)


def test_a_wrong_citation_is_moved_to_the_passage_that_supports_it(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    def cite_the_wrong_passage(messages: Messages) -> str:
        shown = passage_numbers(chat)
        jobs = next(n for n, text in shown.items() if "180 permanent jobs" in text)
        wrong = next(n for n in shown if n != jobs)
        return f"The project is expected to create more than 180 permanent jobs [{wrong}]."

    chat = ScriptedChat(cite_the_wrong_passage)
    answer = make_bot(seeded_dir, embedder, chat).ask(
        "How many jobs will the biopharma plant create and how many medication items?"
    )
    assert answer.text == "The project is expected to create more than 180 permanent jobs [1]."
    [citation] = answer.citations
    assert "180 permanent jobs" in citation.supporting_text
    assert answer.noted(NoteKind.RECITED)


PARIS = "Paris is the capital of France [1]."
JOBS = "How many jobs will the biopharma plant create?"


def test_an_answer_with_nothing_supported_is_replaced_by_the_extractive_quote(
    seeded_dir: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    """The default chain (model, then the extractive fallback): when nothing the model said survives the
    guards, the passages are quoted instead, and the notes say so."""
    chat = ScriptedChat(PARIS)
    answer = make_bot(seeded_dir, embedder, chat).ask(JOBS)
    assert not answer.refused
    assert "Paris" not in answer.text and "180 permanent jobs [1]" in answer.text
    [citation] = answer.citations
    assert "180 permanent jobs" in citation.supporting_text
    assert citation.supporting_text in answer.text.replace(" [1]", "")  # the cited sentence, verbatim
    assert answer.noted(NoteKind.UNSUPPORTED_REMOVED)
    assert answer.noted(NoteKind.FALLBACK)
    assert answer.backend == "extractive (fallback: the model's answer failed the guards)"


def test_an_answer_with_nothing_supported_is_refused_without_a_fallback(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    chat = ScriptedChat(PARIS)
    answer = make_bot(seeded_dir, embedder, chat, llm_fallback=None).ask(JOBS)
    assert answer.refused and answer.text == REFUSAL and answer.citations == ()
    assert answer.noted(NoteKind.UNSUPPORTED_REMOVED)


def test_model_refusal_gives_a_refused_answer_without_citations(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    chat = ScriptedChat(REFUSAL)
    answer = make_bot(seeded_dir, embedder, chat).ask(
        "How many autonomous taxis will operate in Astana in 2026?"
    )
    assert answer.refused and answer.citations == () and answer.text == REFUSAL


def test_irrelevant_question_is_refused_without_calling_the_model(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    chat = ScriptedChat()
    answer = make_bot(seeded_dir, embedder, chat).ask("What is the capital of France?")
    assert answer.refused and chat.prompts == []


def test_follow_up_is_condensed_before_retrieval(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    chat = ScriptedChat(
        "Where did Nurdaulet Suindikov work from 2018 to 2020?",
        "Nurdaulet Suindikov worked in senior roles in the private sector [1].",
    )
    history = [
        {"role": "user", "content": "Who was relieved as Chairman of the Asset Recovery Committee?"},
        {"role": "assistant", "content": "Nurdaulet Suindikov."},
    ]
    answer = make_bot(seeded_dir, embedder, chat).ask("Where did he work from 2018 to 2020?", history=history)
    condense_prompt = chat.prompts[0][-1]["content"]
    assert "Asset Recovery Committee" in condense_prompt and "Where did he work" in condense_prompt
    assert answer.standalone_question == "Where did Nurdaulet Suindikov work from 2018 to 2020?"
    assert "private sector" in answer.text and answer.citations


def test_stream_yields_deltas_then_the_answer(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    chat = ScriptedChat("The plant will create more than 180 permanent jobs [1].")
    events = list(
        make_bot(seeded_dir, embedder, chat).stream("How many jobs will the biopharma plant create?")
    )
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1 and "".join(d.text for d in deltas).startswith("The plant")
    assert isinstance(events[-1], Answer) and sum(isinstance(e, Answer) for e in events) == 1
    assert events[-1].timings.total >= events[-1].timings.first_token > 0


def test_extractive_backend_quotes_the_archive(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    answer = make_bot(seeded_dir, embedder, None).ask(
        "How many high-tech surgeries a year do the hybrid operating rooms enable?"
    )
    assert not answer.refused and "350" in answer.text
    [citation] = answer.citations
    assert citation.supporting_text in answer.text.replace(" [1]", "")


def test_article_text_is_data_not_instructions(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    chat = ScriptedChat("The plant will create more than 180 permanent jobs [1].")
    make_bot(seeded_dir, embedder, chat).ask("How many jobs will the biopharma plant create?")
    system = chat.prompts[-1][0]["content"]
    assert "not instructions" in system and REFUSAL in system


@pytest.mark.parametrize("question", ["", "   ", "\u200b\u200b", "\x00\x01"])
def test_empty_questions_are_a_clear_error(
    seeded_dir: Path, embedder: ArchiveEmbedding, question: str
) -> None:
    with pytest.raises(QuestionError, match="empty"):
        make_bot(seeded_dir, embedder, None).ask(question)


def test_huge_question_is_a_clear_error(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    with pytest.raises(QuestionError, match="too long"):
        make_bot(seeded_dir, embedder, None).ask("why " * 25_000)


def test_empty_archive_says_to_ingest(tmp_path: Path, embedder: ArchiveEmbedding) -> None:
    with pytest.raises(EmptyArchiveError, match="ingest"):
        make_bot(tmp_path / "empty", embedder, None).ask("Anything new?")


def test_prompts_are_validated(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parent.parent / "prompts"
    for f in src.iterdir():
        if f.suffix in (".txt", ".json"):  # the templates, not the package's __init__ or __pycache__
            (tmp_path / f.name).write_text(f.read_text())
    Prompts.load(tmp_path)
    (tmp_path / "question.txt").write_text("Passages: {passages}\nQuestion:")
    with pytest.raises(PromptError, match=r"\{question\}"):
        Prompts.load(tmp_path)
    (tmp_path / "question.txt").write_text("{passages} {question} {extra}")
    with pytest.raises(PromptError, match="extra"):
        Prompts.load(tmp_path)


def test_answer_serialises_to_json(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    answer = make_bot(seeded_dir, embedder, None).ask(
        "Who chairs the Digital Assets and Breakthrough Technologies Committee?"
    )
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["citations"][0]["supporting_text"] and data["refused"] is False


def test_a_how_many_answer_without_a_number_is_a_refusal(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    chat = ScriptedChat("The memorandum was signed with Yandex Qazaqstan [1].")
    answer = make_bot(seeded_dir, embedder, chat).ask(
        "How many taxis will the autonomous service in Astana use?"
    )
    assert answer.refused and answer.noted(NoteKind.WRONG_ANSWER_TYPE)


def test_answer_type_check() -> None:
    from assistant.grounding import answers_the_question

    assert answers_the_question("How many jobs?", "More than 180 jobs [1].")
    assert not answers_the_question("How many jobs?", "Jobs will be created [1].")
    assert not answers_the_question("How many taxis will run in 2026?", "The project starts in 2026 [1].")
    assert answers_the_question("When was she appointed?", "In December 2019 [1].")
    assert not answers_the_question("Since when has she served?", "She served on the council [1].")
    assert answers_the_question("Who chairs the committee?", "Gizzat Baiturssynov [1].")


def test_cli_prepare_warms_the_local_model_with_the_engines_prefix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from assistant import cli

    warmed: list[Messages] = []

    class Local(ScriptedChat):
        name = "local"
        prefix_source = "evaluated"

        def warm_up(self, messages: Messages) -> None:
            warmed.append(messages)

    built: list[str] = []
    monkeypatch.setattr(
        "assistant.generation.build_chat_model",
        lambda settings, backend=None: built.append(backend) or Local(),
    )
    assert cli.main(["prepare", "--data-dir", str(tmp_path)]) == 0
    assert built == ["local"]
    assert warmed == [Prompts.load().answer_messages("warm up", [])]  # the very prefix answers start with
    err = capsys.readouterr().err
    assert "prompt prefix evaluated and saved" in err
    assert "the multilingual embedder's ONNX engine is ready" in err  # make install exports it too
