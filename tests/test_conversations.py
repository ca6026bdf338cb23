"""The conversation store: turns kept in order, owners kept apart, feedback beside its answer, and a
process killed mid-write loses at most the turn it was writing."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.conversations import ConversationError, ConversationStore
from assistant.types import Answer, Citation

from .conftest import ROOT


def answer(question: str, text: str = "It opened on Monday [1].", refused: bool = False) -> Answer:
    citation = Citation(
        1, "a:b:0", "a", "Bridge", "2026-01-05", "Qazinform", "", "It opened on Monday.", (0, 20)
    )
    return Answer(text, () if refused else (citation,), refused, question, backend="extractive")


def test_turns_are_kept_in_order_and_the_newest_conversation_comes_first(tmp_path: Path) -> None:
    store = ConversationStore.in_data_dir(tmp_path)
    first = store.add_turn("ann", None, "When did the bridge open?", [], answer("When did the bridge open?"))
    history = [
        {"role": "user", "content": "When did the bridge open?"},
        {"role": "assistant", "content": "x"},
    ]
    second = store.add_turn("ann", first.conversation_id, "Where is it?", history, answer("Where is it?"))
    other = store.add_turn(
        "ann", None, "Who built it?", [], answer("Who built it?"), {"llm_backend": "local"}
    )
    assert (first.position, second.position) == (0, 1) and second.conversation_id == first.conversation_id

    reopened = ConversationStore.in_data_dir(tmp_path)  # a restart
    listed = reopened.conversations("ann")
    assert [c.id for c in listed] == [other.conversation_id, first.conversation_id]
    assert [(c.title, c.turns) for c in listed] == [("Who built it?", 1), ("When did the bridge open?", 2)]
    turns = reopened.turns("ann", first.conversation_id)
    assert [t.question for t in turns] == ["When did the bridge open?", "Where is it?"]
    assert turns[1].history == tuple(history)
    assert turns[0].answer["citations"][0]["supporting_text"] == "It opened on Monday."
    assert reopened.turns("ann", other.conversation_id)[0].settings == {"llm_backend": "local"}


def test_owners_never_see_or_change_each_others_conversations(tmp_path: Path) -> None:
    store = ConversationStore.in_data_dir(tmp_path)
    turn = store.add_turn("ann", None, "When did the bridge open?", [], answer("q"))
    assert store.conversations("bob") == []
    with pytest.raises(ConversationError):
        store.turns("bob", turn.conversation_id)
    with pytest.raises(ConversationError):
        store.add_turn("bob", turn.conversation_id, "and then?", [], answer("and then?"))
    with pytest.raises(ConversationError):
        store.rate("bob", turn.id, -1)
    with pytest.raises(ConversationError):
        store.delete("bob", turn.conversation_id)
    assert len(store.turns("ann", turn.conversation_id)) == 1


def test_feedback_is_kept_beside_its_answer_replaced_when_given_again_and_deleted_with_it(
    tmp_path: Path,
) -> None:
    store = ConversationStore.in_data_dir(tmp_path)
    liked = store.add_turn("ann", None, "When did the bridge open?", [], answer("q1"))
    disliked = store.add_turn("ann", liked.conversation_id, "How long is it?", [], answer("q2", refused=True))
    store.rate("ann", liked.id, 1)
    store.rate("ann", disliked.id, 1)
    store.rate("ann", disliked.id, -1, "  The article gives its length.  ")
    judged = store.feedback()
    assert [(t.question, t.rating, t.comment) for t in judged] == [
        ("When did the bridge open?", 1, ""),
        ("How long is it?", -1, "The article gives its length."),
    ]
    with pytest.raises(ConversationError, match="1 or -1"):
        store.rate("ann", liked.id, 5)
    store.delete("ann", liked.conversation_id)
    assert store.feedback() == [] and store.conversations("ann") == []


WRITER = """
import sys
from pathlib import Path
from assistant.conversations import ConversationStore
from assistant.types import Answer
store = ConversationStore.in_data_dir(Path(sys.argv[1]))
conversation = None
print("ready", flush=True)
for i in range(100000):
    turn = store.add_turn("ann", conversation, f"question {i}", [], Answer("x" * 5000, (), False, f"q{i}"))
    conversation = turn.conversation_id
"""


def test_a_process_killed_mid_write_leaves_every_committed_turn_whole(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    time.sleep(1.5)  # hundreds of turns written; the kill lands inside one of them
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)

    db = sqlite3.connect(tmp_path / "conversations.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    store = ConversationStore.in_data_dir(tmp_path)
    [conversation] = store.conversations("ann")
    turns = store.turns("ann", conversation.id)
    assert len(turns) > 10 and len(turns) == conversation.turns
    assert [t.position for t in turns] == list(range(len(turns)))  # no gap, no half-written turn
    assert [t.question for t in turns] == [f"question {i}" for i in range(len(turns))]
    assert all(t.answer["text"] == "x" * 5000 for t in turns)
    store.add_turn("ann", conversation.id, "after the crash", [], answer("after"))  # still writable
