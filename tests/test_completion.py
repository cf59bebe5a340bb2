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
