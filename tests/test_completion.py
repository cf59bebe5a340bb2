"""Tab completes offline users too: the server lists accounts by prefix (bounded), the client
learns them. The core in memory; the pure model and completion words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hubpair import Pair

from gameclient.commands import completion_words
from gameclient.lineedit import LineEditor
from gameclient.model import ClientModel
from gameserver.core import chatcommands


@pytest.fixture
def pair(tmp_path: Path) -> Any:
    p = Pair(tmp_path)
    yield p
    p.close()


def test_accounts_lists_offline_ones_by_prefix(pair: Pair) -> None:
    for name in ("Zoe", "zack", "ann"):
        pair.user(name).cmd("quit")
    me = pair.user("me")
    reply = me.cmd("accounts", "z")
    assert reply.TYPE == "ok" and reply.data == {"accounts": ["zack", "Zoe"], "more": False}
    assert reply.text == "2 accounts starting with 'z':" and reply.lines == ["zack, Zoe"]
    assert me.cmd("accounts", "@ZA").data["accounts"] == ["zack"]
    assert me.cmd("accounts", "nobody").text == "no account starting with 'nobody'"
    assert me.cmd("accounts").data["accounts"] == ["ann", "me", "zack", "Zoe"]
    assert me.cmd("accounts", "two words").code == "usage"


def test_accounts_is_bounded(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chatcommands, "ACCOUNTS_SHOWN", 3)
    for n in range(5):
        pair.store.create_account(f"user{n}", "x")
    reply = pair.user("me").cmd("accounts", "user")
    assert reply.data == {"accounts": ["user0", "user1", "user2"], "more": True}
    assert reply.text == "3 accounts starting with 'user' (the first ones; type more letters):"


def test_the_model_learns_accounts_and_tab_completes_an_offline_one(pair: Pair) -> None:
    pair.user("Zelda").cmd("quit")
    me = pair.user("me")
    model = ClientModel(user="me", nick="me", room="lobby")
    model.learn(me.cmd("accounts").data)
    editor = LineEditor()
    editor.insert("/msg Zel")
    editor.complete(completion_words(model, []))
    assert editor.text == "/msg Zelda "


def test_the_completer_asks_only_when_nothing_completes() -> None:
    from gameclient.completion import Completer, unmatched

    asked: list[str] = []
    completer = Completer(asked.append)
    editor = LineEditor()
    editor.insert("/msg zel")
    completer.tab(editor, ["/msg", "bob"])
    assert asked == ["zel"] and editor.text == "/msg zel"
    assert completer.learned(editor, ["/msg", "bob", "Zelda"])  # the names came: completed
    assert editor.text == "/msg Zelda "
    editor.insert("b")
    completer.tab(editor, ["bob"])  # a known name: no question
    assert editor.text == "/msg Zelda bob " and asked == ["zel"]
    for typed in ("/nosuch", "@", "#"):
        assert unmatched(_typed(typed), []) is None
    assert unmatched(_typed("hi @ze"), []) == "ze" and unmatched(_typed("/join #ga"), []) == "ga"


def test_a_late_answer_does_not_change_a_line_typed_on() -> None:
    from gameclient.completion import Completer

    completer = Completer(lambda prefix: None)
    editor = _typed("zel")
    completer.tab(editor, [])
    editor.insert("ig")  # typed on before the names came
    assert not completer.learned(editor, ["Zelda"]) and editor.text == "zelig"


def _typed(text: str) -> LineEditor:
    editor = LineEditor()
    editor.insert(text)
    return editor


def test_the_controller_asks_the_server_and_completes(pair: Pair) -> None:
    from gameclient.controller import Controller
    from gameclient.termkeys import Key, Text

    me = pair.user("me")
    for n in range(3):
        pair.store.create_account(f"zed{n}", "x")  # never seen by this client
    model = ClientModel(user="me", nick="me", room="lobby")

    def look_up(prefix: str) -> None:
        model.learn(me.cmd("accounts", prefix).data)  # the reply, as the host hands it on
        controller.learned()

    controller = Controller(model, lambda typed, secret: True, look_up=look_up)
    controller.key(Text("/whois zed1"))
    controller.key(Key("tab"))
    assert controller.editor.text == "/whois zed1 "


def test_a_room_completes_with_or_without_its_hash() -> None:
    model = ClientModel(user="me", nick="me", room="lobby")
    model.learn({"rooms": {"gazebo": 1, "lobby": 3}})
    for typed, done in (("/join gaz", "/join gazebo "), ("/join #gaz", "/join #gazebo ")):
        editor = LineEditor()
        editor.insert(typed)
        editor.complete(completion_words(model, []))
        assert editor.text == done
