"""Games over real loopback sockets: full games, spectators, resume after drops and restarts."""

from __future__ import annotations

from typing import Any

from helpers import RawClient, logged_in, run, running_server

from gameserver.core.gamehost import GameHost


def filled(frame: dict[str, Any]) -> int:
    """Marks on a tic-tac-toe board (rows are lines 1, 3 and 5 of the render)."""
    return sum(row.count("X") + row.count("O") for row in frame["board"][1:6:2])


async def start_tictactoe(x: RawClient, o: RawClient) -> int:
    """x invites o; o accepts; both see the empty board. Returns the game id."""
    reply = await x.command("game", f"tictactoe {o.user}")
    assert reply["type"] == "ok", reply
    gid = reply["data"]["game_id"]
    invite = await o.expect("notice", kind="game", where=lambda f: f"/accept {gid}" in f["text"])
    assert o.user in invite["text"]
    assert (await o.command("accept"))["type"] == "ok"
    for c in (x, o):
        state = await c.expect("game", game_id=gid)
        assert state["players"] == [x.user, o.user] and filled(state) == 0
        assert state["turn"] == x.user and not state["over"]
    return gid


async def play_moves(gid: int, clients: list[RawClient], squares: list[str],
                     watchers: list[RawClient]) -> dict[str, Any]:
    """Alternate the players' moves as plain chat; every watcher sees every board."""
    state: dict[str, Any] = {}
    for n, square in enumerate(squares, start=1):
        mover = clients[(n - 1) % 2]
        reply = await mover.say(square)
        assert reply["type"] == "ok", reply
        for c in watchers:
            state = await c.expect("game", game_id=gid, where=lambda f, n=n: filled(f) == n)
    return state


def test_tictactoe_to_a_win_watched_by_a_spectator(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            carol = await logged_in(server.port, "carol")
            gid = await start_tictactoe(alice, bob)
            await carol.expect("game", game_id=gid)
            # A spectator's chat that looks like a move is chat.
            assert (await carol.say("b2"))["type"] == "ok"
            for c in (alice, bob, carol):
                msg = await c.expect("room_msg", text="b2")
                assert msg["nick"] == "carol"
            final = await play_moves(gid, [alice, bob], ["a1", "a2", "b1", "b2", "c1"],
                                     [alice, bob, carol])
            assert final["over"] and final.get("turn") is None
            assert final["status"] == "alice wins with a1-b1-c1"
            for c in (alice, bob, carol):
                end = await c.expect("notice", kind="game", where=lambda f: "over" in f["text"])
                assert "alice wins" in end["text"]
            # Moves were not chat: the only room message is carol's.
            texts = [f["text"] for f in carol.seen if f["type"] == "room_msg"]
            assert texts == ["b2"]
            await carol.send({"type": "cmd", "id": carol.next_id(), "name": "history",
                              "args": "lobby"})
            page = await carol.expect("history", kind="history")
            games = [e for e in page["entries"] if e["type"] == "GAME"]
            assert games and "alice wins" in games[-1]["text"]
            assert games[-1]["receiver"] == "lobby"
    run(body())


def test_tictactoe_to_a_draw_and_stats(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            gid = await start_tictactoe(alice, bob)
            # X: b2 a1 c1 a2 b3 / O: a3 c3 b1 c2 -> full board, no line
            final = await play_moves(gid, [alice, bob],
                                     ["b2", "a3", "a1", "c3", "c1", "b1", "a2", "c2", "b3"],
                                     [alice, bob])
            assert final["over"] and final["status"] == "draw"
            await bob.expect("notice", kind="game", where=lambda f: "draw" in f["text"])
            stats = await alice.command("stats", "bob")
            counted = stats["data"]["stats"]["tictactoe"]
            assert {k: counted[k] for k in ("wins", "losses", "draws")} == {
                "wins": 0, "losses": 0, "draws": 1}
            # A draw between two new players leaves both at 1500, much surer than before.
            assert counted["rating"] == 1500.0 and counted["rd"] < 350
            assert counted["rated_games"] == 1
    run(body())


def test_hangman_with_a_secret_word_to_its_end(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            carol = await logged_in(server.port, "carol")
            reply = await alice.command("game", "hangman --secret", secret="Otter")
            assert reply["type"] == "ok", reply
            gid = reply["data"]["game_id"]
            state = await bob.expect("game", game_id=gid)
            assert "word:    _ _ _ _ _" in state["board"]
            # The setter does not guess.
            err = await alice.say("t")
            assert err["type"] == "error" and "you set the word" in err["text"]
            assert (await bob.say("t"))["type"] == "ok"
            state = await carol.expect("game", game_id=gid,
                                       where=lambda f: "word:    _ t t _ _" in f["board"])
            assert (await carol.say("z"))["type"] == "ok"  # anyone in the room may guess
            state = await bob.expect("game", game_id=gid,
                                     where=lambda f: "wrong:   1 of 6" in f["board"])
            assert (await carol.command("guess", "otter"))["type"] == "ok"
            state = await alice.expect("game", game_id=gid, where=lambda f: f["over"])
            assert state["status"] == "the room wins - carol found the word 'otter'"
            end = await bob.expect("notice", kind="game", where=lambda f: "is over" in f["text"])
            assert end["text"] == (f"game {gid} (hangman) is over:"
                                   " the room wins - carol found the word 'otter'")
            # Nothing anyone received before the winning guess contained the word.
            for c in (alice, bob, carol):
                before = []
                for frame in c.seen:
                    if frame.get("text") == f"game {gid}: carol guessed otter":
                        break
                    before.append(frame)
                assert len(before) < len(c.seen) and "otter" not in str(before).lower()
            # Cooperative: every guesser wins, not only the finisher; the setter loses.
            for c in (bob, carol):
                stats = await c.command("stats")
                assert stats["data"]["stats"] == {"hangman": {"wins": 1, "losses": 0,
                                                              "draws": 0}}
            stats = await alice.command("stats")
            assert stats["data"]["stats"] == {"hangman": {"wins": 0, "losses": 1, "draws": 0}}
            # A guesser holds no seat but took part: /rematch starts a new round for them.
            reply = await bob.command("rematch")
            assert reply["type"] == "ok", reply
    run(body())


def test_hangman_random_word_lost_by_the_room(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            carol = await logged_in(server.port, "carol")
            await logged_in(server.port, "dave")  # in the room, never guesses
            gid = (await alice.command("game", "hangman"))["data"]["game_id"]
            await bob.expect("game", game_id=gid)
            host = next(e for e in server.hub.extensions if isinstance(e, GameHost))
            table = host.tables[gid]
            secret = table.game.to_json()["state"]["secret"]
            wrong = [c for c in "zqxjkvwyfbgmhupcdl" if c not in secret][:6]
            for n, letter in enumerate(wrong):
                guesser = (bob, carol)[n % 2]
                assert (await guesser.say(letter))["type"] == "ok"
            state = await alice.expect("game", game_id=gid, where=lambda f: f["over"])
            assert state["status"] == f"the word was {secret!r} - the room loses"
            # The starter never guessed but started it: one of the room, so a loss too.
            for c in (alice, bob, carol):
                stats = (await c.command("stats"))["data"]["stats"]
                assert stats == {"hangman": {"wins": 0, "losses": 1, "draws": 0}}, c.user
            assert (await alice.command("stats", "dave"))["data"]["stats"] == {}
    run(body())


def test_hangman_random_word_resigned(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            gid = (await alice.command("game", "hangman"))["data"]["game_id"]
            await bob.expect("game", game_id=gid)
            assert (await bob.command("resign"))["type"] == "error"  # only the starter can
            assert (await alice.say("e"))["type"] == "ok"
            assert (await alice.command("resign"))["type"] == "ok"
            state = await bob.expect("game", game_id=gid, where=lambda f: f["over"])
            assert state["status"].startswith("alice gave up - the word was ")
    run(body())


def test_two_games_in_one_room(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            carol = await logged_in(server.port, "carol")
            dave = await logged_in(server.port, "dave")
            g1 = await start_tictactoe(alice, bob)
            g2 = await start_tictactoe(carol, dave)
            assert g1 != g2
            assert (await alice.say("b2"))["type"] == "ok"
            assert (await carol.say("a1"))["type"] == "ok"
            s1 = await dave.expect("game", game_id=g1, where=lambda f: filled(f) == 1)
            s2 = await bob.expect("game", game_id=g2, where=lambda f: filled(f) == 1)
            assert "X" in s1["board"][3] and "X" in s2["board"][1]
            # Each move went to the mover's own game only.
            assert (await bob.say("a1"))["type"] == "ok"
            s1 = await carol.expect("game", game_id=g1, where=lambda f: filled(f) == 2)
            assert s1["turn"] == "alice"
            board = await dave.command("board")
            assert board["text"] == "2 games in #lobby"
    run(body())


def test_disconnect_and_resume(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            gid = await start_tictactoe(alice, bob)
            assert (await alice.say("b2"))["type"] == "ok"
            await bob.expect("game", game_id=gid, where=lambda f: filled(f) == 1)
            await bob.close()
            await alice.expect("left", nick="bob")
            bob = await logged_in(server.port, "bob")
            state = await bob.expect("game", game_id=gid)
            assert filled(state) == 1 and state["turn"] == "bob"
            assert (await bob.say("a1"))["type"] == "ok"
            state = await alice.expect("game", game_id=gid, where=lambda f: filled(f) == 2)
            assert state["turn"] == "alice"
    run(body())


def test_server_restart_and_resume(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            await alice.command("join", "den")
            await bob.command("join", "den")
            gid = await start_tictactoe(alice, bob)
            assert (await alice.say("b2"))["type"] == "ok"
            await bob.expect("game", game_id=gid, where=lambda f: filled(f) == 1)
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            note = await bob.expect("notice", kind="game")
            assert f"game {gid}" in note["text"] and "/join den" in note["text"]
            await alice.command("join", "den")
            await bob.command("join", "den")
            state = await bob.expect("game", game_id=gid)
            assert filled(state) == 1 and state["turn"] == "bob"
            assert (await bob.say("a1"))["type"] == "ok"
            state = await alice.expect("game", game_id=gid, where=lambda f: filled(f) == 2)
            assert state["players"] == ["alice", "bob"]
    run(body())
