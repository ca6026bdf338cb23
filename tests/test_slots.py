"""The answer slot (assistant.slots) and the engine's use of it: the figure and the person asked for, as
the cited sentences state them. Rules on hand-written sentences; the engine with a scripted model over the
seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.generation import Messages
from assistant.slots import SlotKind, about, filled_by, fillers, slot_of
from assistant.types import NoteKind
from ingest.embedding import ArchiveEmbedding

from .conftest import ScriptedChat, make_bot, passage_numbers

FACILITIES = (
    "Kazakhstan built 655 primary healthcare facilities under the Rural Healthcare Modernization national "
    "project, Qazinform News Agency cites the Kazakh Healthcare Ministry.\nThe project, initiated by "
    "President Kassym-Jomart Tokayev, focuses on three key objectives, namely, expanding the network of "
    "primary healthcare organizations in rural areas.\nAll 655 facilities have now been completed, including "
    "99 facilities in 2023, 361 facilities in 2024 and 195 facilities in 2025."
)
RESOLUTION = "Prime Minister Olzhas Bektenov has signed the respective resolution."


def test_the_slot_a_question_asks_for() -> None:
    quantity = slot_of("How many rural healthcare facilities were built in 2024?")
    assert quantity is not None and quantity.kind is SlotKind.QUANTITY
    assert (quantity.thing, quantity.years) == ("facility", frozenset({"2024"}))
    role = slot_of("Who initiated the Rural Healthcare Modernization project?")
    assert role is not None and (role.kind, role.verb) == (SlotKind.ROLE, "initiate")
    appointed = slot_of("Who was appointed chairman of the committee?")
    assert appointed is not None and appointed.verb == "appoint"
    for question in ("Who is Gizzat Baiturssynov?", "Who is the president?", "What did the ministry say?"):
        assert slot_of(question) is None


def test_a_number_fills_a_quantity_only_in_the_clause_of_the_year_asked() -> None:
    slot = slot_of("How many rural healthcare facilities were built in 2024?")
    assert slot is not None
    assert fillers(slot, FACILITIES.splitlines()[2]) == {"361"}
    assert fillers(slot, FACILITIES.splitlines()[0]) == set()  # about no year: not the year asked
    assert filled_by(slot, "361 facilities were built in 2024 [1].", [FACILITIES])
    assert not filled_by(slot, "The project focuses on three key objectives [1].", [FACILITIES])
    assert not filled_by(slot, "All 655 facilities have been completed [1].", [FACILITIES])
    no_year = slot_of("How many primary healthcare facilities did Kazakhstan build?")
    assert no_year is not None and filled_by(no_year, "It built 655 facilities [1].", [FACILITIES])


def test_a_figure_just_after_the_thing_and_how_much() -> None:
    housing = slot_of("How much housing was commissioned in Kazakhstan in 2025?")
    assert housing is not None and housing.thing == "housing"
    assert fillers(housing, "In 2025, 19 million square meters of housing were commissioned.") == {"19"}
    investment = slot_of("How much investment does the biopharma project involve?")
    assert investment is not None
    assert fillers(investment, "It involves a total investment of over 103 billion tenge.") == {"103"}


def test_a_year_the_evidence_does_not_give_leaves_the_quantity_unfilled() -> None:
    slot = slot_of("How many rural healthcare facilities were built in 2031?")
    assert slot is not None and not filled_by(slot, "Kazakhstan built 655 facilities [1].", [FACILITIES])
    jobs = slot_of("How many jobs will the biopharma plant create?")
    assert jobs is not None and filled_by(jobs, "About 180 jobs [1].", ["No figure here at all."])


def test_a_person_fills_a_role_only_in_one_clause_with_its_verb() -> None:
    initiated = slot_of("Who initiated the Rural Healthcare Modernization project?")
    assert initiated is not None
    assert filled_by(initiated, "President Kassym-Jomart Tokayev initiated the project [1].", [FACILITIES])
    assert not filled_by(initiated, "The Kazakh Healthcare Ministry initiated the project [1].", [FACILITIES])
    ordered = slot_of("Who ordered the Rural Healthcare Modernization national project?")
    assert ordered is not None  # every word is in the passage, but no clause says anyone ordered it
    assert not filled_by(ordered, "The Kazakh Healthcare Ministry ordered the project [1].", [FACILITIES])
    signed = slot_of("Who signed the resolution on the biopharma plant?")
    assert signed is not None
    assert filled_by(signed, "Prime Minister Olzhas Bektenov signed the resolution [1].", [RESOLUTION])
    assert not filled_by(signed, "President Tokayev signed it [1].", [RESOLUTION])
    chaired = slot_of("Who chairs the Digital Assets Committee?")  # "chairs" / "Chairman"
    assert chaired is not None
    chairman = "Gizzat Baiturssynov was appointed Chairman of the Digital Assets Committee."
    assert filled_by(chaired, "Gizzat Baiturssynov chairs it [1].", [chairman])


def test_a_person_named_in_other_words_than_the_question_s_verb() -> None:
    """ "Who was given overall control?" over "... were assigned to Aida Balayeva": the answer in the
    article's words stands; one that says "was given" states a relation in words the article does not use."""
    given = slot_of("Who was given overall control of the Olympic preparations?")
    assigned = "Overall control and coordination were assigned to Deputy Prime Minister Aida Balayeva."
    assert given is not None
    assert filled_by(given, "Control was assigned to Deputy Prime Minister Aida Balayeva [1].", [assigned])
    assert not filled_by(given, "Aida Balayeva was given overall control [1].", [assigned])


def test_a_sentence_quoted_for_the_slot_must_be_about_the_question() -> None:
    """Any sentence with "appointed" and a name fills the slot of "who was appointed", but quoting one about
    another appointment would answer a question the archive cannot (seeds_large s92)."""
    question = "Who was appointed to replace Nurdaulet Suindikov as Chairman of the Asset Recovery Committee?"
    slot = slot_of(question)
    assert slot is not None
    other = (
        "Officials relieved\nMariya Khadzhiyeva was appointed Deputy Chairwoman of the Association's council."
    )
    assert fillers(slot, other.splitlines()[1]) and not about(question, slot, other)
    facilities = slot_of("How many rural healthcare facilities were built in 2024?")
    assert facilities is not None
    titled = "Kazakhstan builds 655 rural healthcare facilities\n" + FACILITIES.splitlines()[2]
    assert about("How many rural healthcare facilities were built in 2024?", facilities, titled)


def _citing(chat: ScriptedChat, marker_text: str, reply: str) -> str:
    n = next(n for n, text in passage_numbers(chat).items() if marker_text in text)
    return reply.format(n=n)


def test_a_figure_of_the_wrong_thing_is_replaced_by_the_sentence_that_gives_it(
    seeded_dir: Path,
    embedder: ArchiveEmbedding,
) -> None:
    def three_objectives(messages: Messages) -> str:
        return _citing(chat, "Rural Healthcare", "The project focuses on three key objectives [{n}].")

    chat = ScriptedChat(three_objectives)
    answer = make_bot(seeded_dir, embedder, chat).ask(
        "How many rural healthcare facilities were built in 2024?"
    )
    assert not answer.refused and "361 facilities in 2024" in answer.text, answer.text
    assert answer.noted(NoteKind.SLOT_FROM_EVIDENCE)
    assert "361 facilities in 2024" in answer.citations[0].supporting_text


def test_a_person_the_articles_do_not_name_in_the_role_is_not_asserted(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    def the_ministry(messages: Messages) -> str:
        return _citing(
            chat,
            "Rural Healthcare",
            "The Kazakh Healthcare Ministry ordered the Rural Healthcare Modernization project [{n}].",
        )

    chat = ScriptedChat(the_ministry)
    answer = make_bot(seeded_dir, embedder, chat).ask(
        "Who ordered the Rural Healthcare Modernization national project?"
    )
    # the relation the passage does not state is not said: refused, or what the passage does say, quoted
    assert "ordered" not in answer.text, answer.text
    assert answer.noted(NoteKind.SLOT_UNFILLED) or answer.noted(NoteKind.SLOT_FROM_EVIDENCE)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who initiated the Rural Healthcare Modernization national project?", "Kassym-Jomart Tokayev"),
        ("How many rural healthcare facilities were built in 2024?", "361"),
    ],
)
def test_a_refusal_of_what_the_best_sentence_states_is_answered_from_it(
    seeded_dir: Path,
    embedder: ArchiveEmbedding,
    question: str,
    expected: str,
) -> None:
    chat = ScriptedChat("The articles do not say.")
    answer = make_bot(seeded_dir, embedder, chat).ask(question)
    assert not answer.refused and expected in answer.text, answer.text
    assert answer.noted(NoteKind.SLOT_FROM_EVIDENCE)
