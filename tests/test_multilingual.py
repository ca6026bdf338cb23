"""Russian and Kazakh questions over the English seeds: the language is told by its letters, the question is
answered and checked in English, the checked answer is translated back only when its markers, numbers and
names survive, refusals come in the question's language; the multilingual embedder finds English passages
for Russian and Kazakh questions; an archive embedded with another embedder is refused, then migrated."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant import Assistant, Settings
from assistant.languages import (
    ENGLISH,
    KAZAKH,
    RUSSIAN,
    cyrillic,
    detect,
    faithful,
    glossary,
    with_glossary,
)
from assistant.types import NoteKind
from ingest import ingest_paths
from ingest.embedding import ArchiveEmbedding
from ingest.errors import EmbedderMismatchError
from ingest.reembed import reembed
from ingest.store import REEMBEDDING, PassageStore

from .conftest import SEEDS, ScriptedChat

RU_SIGNED = "Кто подписал постановление о биофармацевтическом заводе?"
EN_SIGNED = "Who signed the resolution on the biopharmaceutical plant?"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Кто подписал постановление?", RUSSIAN),
        ("Сколько рабочих мест он создаст?", RUSSIAN),
        ("Су ресурстары және ирригация министрі кім?", KAZAKH),
        ("Онкологиялық орталық жылына қанша курс өткізеді?", KAZAKH),
        ("Onkologııalyq ortalyq jylyna qansha kurs ótkizedi?", KAZAKH),  # Kazakh in its Latin script
        ("Who signed the resolution on the Khan Tengri plant?", ENGLISH),
        ("What did Kim Jong Un say?", ENGLISH),
        ("12 000?", ENGLISH),
    ],
)
def test_the_language_is_told_by_its_letters(text: str, language: object) -> None:
    assert detect(text) is language


def test_a_translation_must_keep_markers_numbers_and_names() -> None:
    english = "Prime Minister Olzhas Bektenov signed it [1]. It will create more than 12,000 jobs [2]."
    good = "Премьер-министр Олжас Бектенов подписал его [1]. Он создаст более 12 000 рабочих мест [2]."
    assert faithful(english, good)
    assert faithful(english, good.replace("Олжас Бектенов", "Olzhas Bektenov"))  # names kept in Latin
    assert not faithful(english, good.replace(" [2]", ""))  # a marker lost
    assert not faithful(english, good.replace("[2]", "[3]"))  # a marker changed
    assert not faithful(english, good.replace("12 000", "1 200"))  # a number changed
    assert not faithful(english, good.replace("Олжас Бектенов", "Асхат Оразбай"))  # another person
    assert not faithful(english, "")


def test_a_translation_must_keep_roles_and_whole_names() -> None:
    """The Russian answer that called Prime Minister Bektenov "Президент Olzhas Bektenов" passed the check of
    numbers, names and markers; a role changed or a name half transliterated now fails it."""
    english = "Prime Minister Olzhas Bektenov signed the resolution [1]."
    assert faithful(english, "Премьер-министр Олжас Бектенов подписал постановление [1].")
    assert not faithful(english, "Президент Олжас Бектенов подписал постановление [1].")  # another role
    assert not faithful(
        english, "Премьер-министр Olzhas Bektenов подписал постановление [1]."
    )  # mixed script
    assert not faithful(english, "Олжас Бектенов подписал постановление [1].")  # the role lost
    president = "President Kassym-Jomart Tokayev initiated the project [1]."
    assert faithful(president, "Президент Касым-Жомарт Токаев инициировал проект [1].")  # Jomart: Жомарт
    assert faithful(president, "Президент Қасым-Жомарт Тоқаев жобаны бастады [1].")  # Kazakh letters
    assert faithful(
        "Minister of Health Akmaral Alnazarova said it [1].",
        "Министр здравоохранения Акмарал Альназарова сказала это [1].",
    )


@pytest.mark.parametrize(
    ("latin", "written"),
    [
        ("Bektenov", "Бектенов"),
        ("Olzhas", "Олжас"),
        ("Tokayev", "Токаев"),
        ("Kassym-Jomart", "Кассым-Жомарт"),
        ("Baiturssynov", "Байтурссынов"),
        ("Yerlan", "Ерлан"),
        ("Shymkent", "Шымкент"),
    ],
)
def test_a_romanised_name_is_written_in_cyrillic_by_a_fixed_table(latin: str, written: str) -> None:
    assert cyrillic(latin) == written
    assert faithful(f"Mr {latin} spoke [1].", f"{written} выступил [1].")  # the check accepts what it wrote


def test_the_glossary_holds_the_roles_and_names_of_the_english_answer() -> None:
    """What the translation is told to write as given: each role in the words the check accepts, each name
    in Cyrillic; nothing for a text without them, nothing for English."""
    president = "The project was initiated by President Kassym-Jomart Tokayev in 2024 [1]."
    assert glossary(president, KAZAKH) == (
        ("President", "президент"),
        ("Kassym", "Кассым"),
        ("Jomart", "Жомарт"),
        ("Tokayev", "Токаев"),
    )
    for english, translated in glossary(president, RUSSIAN):
        assert translated in {"президент", "Кассым", "Жомарт", "Токаев"} and english in president
    assert glossary("The plant will create 180 jobs [1].", RUSSIAN) == ()
    assert glossary(president, ENGLISH) == ()


def test_names_and_the_role_of_the_english_answer_are_put_back_into_the_translation() -> None:
    """What the local model wrote with the glossary in its prompt ("Президент Olzhas Bektenов"): the names
    and the role come from the checked English answer, then the check decides as for any translation."""
    english = "Prime Minister Olzhas Bektenov signed the decision on the biopharmaceutical factory [1]."
    keep = glossary(english, RUSSIAN)
    mended = with_glossary("Президент Olzhas Bektenов подписал соответствующий акт [1].", english, keep)
    assert mended == "Премьер-министр Олжас Бектенов подписал соответствующий акт [1]."
    assert faithful(english, mended)
    right = "Премьер-министр Олжас Бектенов подписал решение [1]."
    assert with_glossary(right, english, keep) == right  # a right translation is left as it is
    two_roles = "Президент и министр Olzhas Bektenов подписал акт [1]."  # which one to mend is not clear
    assert not faithful(english, with_glossary(two_roles, english, keep))


def test_a_translation_with_the_wrong_role_is_mended_from_the_english_answer(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    chat = ScriptedChat(
        EN_SIGNED,
        "Prime Minister Olzhas Bektenov signed the resolution [1].",
        "Президент Olzhas Bektenов подписал постановление [1].",  # as the 1.5B model writes it
    )
    answer = _bot(seeded_dir, embedder, chat).ask(RU_SIGNED)
    assert answer.language == "ru" and not answer.noted(NoteKind.UNTRANSLATED)
    assert answer.text == "Премьер-министр Олжас Бектенов подписал постановление [1]."


def _bot(data_dir: Path, embedder: ArchiveEmbedding, chat: ScriptedChat | None) -> Assistant:
    overrides = {"llm_backend": "extractive"} if chat is None else {}
    return Assistant.from_settings(
        Settings(data_dir=data_dir, **overrides), embedder=embedder, chat_model=chat
    )


def test_a_russian_question_is_answered_in_english_then_translated(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    chat = ScriptedChat(
        EN_SIGNED,  # the question, translated
        "Prime Minister Olzhas Bektenov signed the resolution [1].",  # the English draft
        "Премьер-министр Олжас Бектенов подписал постановление [1].",  # the checked answer, translated
    )
    answer = _bot(seeded_dir, embedder, chat).ask(RU_SIGNED)
    assert "into English" in chat.prompts[0][-1]["content"] and RU_SIGNED in chat.prompts[0][-1]["content"]
    assert EN_SIGNED in chat.prompts[1][-1]["content"]  # the model answers the English question
    assert "into Russian" in chat.prompts[2][-1]["content"]
    # the names and the role reach the translation as the check accepts them
    assert (
        "Prime Minister = премьер-министр; Olzhas = Олжас; Bektenov = Бектенов"
        in chat.prompts[2][-1]["content"]
    )
    assert not answer.refused and answer.language == "ru"
    assert answer.text == "Премьер-министр Олжас Бектенов подписал постановление [1]."
    assert answer.standalone_question == EN_SIGNED
    assert (
        answer.english_text == "Prime Minister Olzhas Bektenov signed the resolution [1]."
    )  # what was checked
    assert "Prime Minister Olzhas Bektenov has signed" in answer.citations[0].text  # the passage as written


def test_a_translation_that_loses_a_number_gives_the_checked_english(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    chat = ScriptedChat(
        "How many permanent jobs will the biopharma plant create?",
        "The plant is expected to create more than 180 permanent jobs [1].",
        "Завод создаст более 18 постоянных рабочих мест [1].",  # 180 became 18
    )
    answer = _bot(seeded_dir, embedder, chat).ask("Сколько постоянных рабочих мест создаст завод?")
    assert not answer.refused and answer.language == "en"
    assert answer.text.startswith(RUSSIAN.untranslated) and "180 permanent jobs [1]" in answer.text
    assert answer.noted(NoteKind.UNTRANSLATED)


def test_a_russian_follow_up_is_rewritten_in_english(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    chat = ScriptedChat(
        "How many jobs will the biopharmaceutical plant create?",  # the follow-up, standing alone, in English
        "The plant is expected to create more than 180 permanent jobs [1].",
        "Ожидается, что завод создаст более 180 постоянных рабочих мест [1].",
    )
    history = [
        {"role": "user", "content": RU_SIGNED},
        {"role": "assistant", "content": "Премьер-министр Олжас Бектенов подписал постановление [1]."},
    ]
    answer = _bot(seeded_dir, embedder, chat).ask("Сколько рабочих мест он создаст?", history=history)
    condense_prompt = chat.prompts[0][-1]["content"]
    assert RU_SIGNED in condense_prompt and "Сколько рабочих мест он создаст?" in condense_prompt
    assert "in English" in condense_prompt  # "он" is resolved in the conversation's own language
    assert answer.standalone_question == "How many jobs will the biopharmaceutical plant create?"
    assert answer.language == "ru" and "180" in answer.text and answer.citations
    assert "biopharma" in answer.citations[0].title.lower()


def test_a_russian_refusal_is_in_russian(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    chat = ScriptedChat(
        "How many driverless taxis will operate in Astana in 2026?", "The articles do not say."
    )
    answer = _bot(seeded_dir, embedder, chat).ask(
        "Сколько беспилотных такси будет работать в Астане в 2026 году?"
    )
    assert answer.refused and answer.text == RUSSIAN.refusal and answer.language == "ru"
    assert not answer.citations


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (RU_SIGNED, "biopharma"),
        (
            "Сколько высокотехнологичных операций в год позволяют проводить гибридные операционные?",
            "Bektenov",
        ),
        ("Су ресурстары және ирригация министрі кім?", "Nurzhigitov"),
    ],
)
def test_the_multilingual_embedder_finds_the_english_passages(
    seeded_dir: Path, embedder, question: str, expected: str
) -> None:
    """Without a model to translate the question, the embedder alone finds its passages."""
    hits = _bot(seeded_dir, embedder, None).retriever.retrieve(question, k=3).hits
    found = " | ".join(f"{h.passage.metadata.get('title')}: {h.passage.text}" for h in hits)
    assert expected.lower() in found.lower(), found


@pytest.fixture
def minilm_archive(tmp_path: Path) -> Path:
    """The seed articles ingested with the English-only MiniLM embedder (an archive from before e5)."""
    from ingest.embedding import MiniLMEmbedding

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for path in sorted(SEEDS.iterdir()):
        shutil.copy(path, seeds / path.name)
    data_dir = tmp_path / "data"
    report = ingest_paths([seeds], Settings(data_dir=data_dir, embedder="minilm"), embedder=MiniLMEmbedding())
    assert report.ok and report.passages_written
    return data_dir


def test_an_archive_of_another_embedder_is_refused_then_reembedded(
    minilm_archive: Path, embedder: ArchiveEmbedding
) -> None:
    settings = Settings(data_dir=minilm_archive, llm_backend="extractive")
    store = PassageStore(settings)
    assert store.vector_space() == "all-MiniLM-L6-v2-onnx-int8"
    bot = Assistant.from_settings(settings, embedder=embedder)
    with pytest.raises(EmbedderMismatchError, match=r"python -m ingest --reembed"):
        bot.ask("Who signed the resolution?")
    new = minilm_archive.parent / "new.md"
    new.write_text("# Astana opens a new bridge\n\nThe bridge over the Ishim river opened on Monday.\n")
    with pytest.raises(EmbedderMismatchError):  # and ingest does not add e5 vectors to it either
        ingest_paths([new], settings, embedder=embedder)

    before = {p.passage_id: p.text for p in store.iter_passages()}
    report = reembed(settings, embedder=embedder)
    assert report.before == "all-MiniLM-L6-v2-onnx-int8" and report.after == embedder.model_id
    assert report.passages == len(before)
    assert {p.passage_id: p.text for p in store.iter_passages()} == before  # text kept, vectors replaced
    assert store.vector_space() == embedder.model_id
    hits = Assistant.from_settings(settings, embedder=embedder).retriever.retrieve(RU_SIGNED, k=3).hits
    assert any("biopharma" in str(h.passage.metadata.get("title")).lower() for h in hits)
    assert reembed(settings, embedder=embedder).passages == 0  # nothing left to do


def test_an_interrupted_reembedding_is_refused_until_finished(
    minilm_archive: Path, embedder: ArchiveEmbedding
) -> None:
    settings = Settings(data_dir=minilm_archive, llm_backend="extractive")
    PassageStore(settings).record_vector_space(REEMBEDDING + embedder.model_id)
    with pytest.raises(EmbedderMismatchError, match="half re-embedded"):
        Assistant.from_settings(settings, embedder=embedder).ask("Who signed the resolution?")
    assert reembed(settings, embedder=embedder).passages > 0
    hits = Assistant.from_settings(settings, embedder=embedder).retriever.retrieve(RU_SIGNED, k=3).hits
    assert any("biopharma" in str(h.passage.metadata.get("title")).lower() for h in hits)
