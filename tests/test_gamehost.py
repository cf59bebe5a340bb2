"""GameHost: invitations, move routing, private errors, bot, timers, stats and commands."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from helpers import RawClient, logged_in, run, running_server

from games.base import Outcome, Termination
from gameserver.core.gamehost import BOT, GameHost, duration, results
from gameserver.server import ChatServer
from gameserver.store import SQLiteStore


def gamehost(server: ChatServer) -> GameHost:
    return next(e for e in server.hub.extensions if isinstance(e, GameHost))


def filled(frame: dict[str, Any]) -> int:
    return sum(row.count("X") + row.count("O") for row in frame["board"][1:6:2])


def free_squares(frame: dict[str, Any]) -> list[str]:
    """Empty squares of a tic-tac-toe board, in a fixed order."""
    free = []
    for row, line in zip("123", frame["board"][1:6:2], strict=True):
        for col, cell in zip("abc", line[4:].split(" | "), strict=True):
            if cell.strip() == ".":
                free.append(col + row)
    return free


async def ttt(x: RawClient, o: RawClient) -> int:
    gid = (await x.command("game", f"tictactoe {o.user}"))["data"]["game_id"]
    assert (await o.command("accept", str(gid)))["type"] == "ok"
    await x.expect("game", game_id=gid)
    return gid


async def ok(reply_coro: Any) -> dict[str, Any]:
    reply = await reply_coro
    assert reply["type"] == "ok", reply
    return reply


async def error(reply_coro: Any, code: str | None = None) -> dict[str, Any]:
    reply = await reply_coro
    assert reply["type"] == "error", reply
    if code is not None:
        assert reply["code"] == code, reply
    return reply


# ---------------------------------------------------------------- pure helpers


def test_results_skip_bots_and_count_draws_and_guessers() -> None:
    win = Outcome(termination=Termination.WIN, winners=("ann",), losers=(BOT,), summary="x")
    assert results(win, ("ann", BOT)) == [("ann", "win")]
    draw = Outcome(termination=Termination.DRAW, summary="draw")
    assert results(draw, (BOT, "ann")) == [("ann", "draw")]
    room_loses = Outcome(termination=Termination.WIN, losers=("ann", "bo"), summary="lost")
    assert results(room_loses, ("ann",)) == [("ann", "loss"), ("bo", "loss")]


def test_move_verb_is_optional() -> None:
    from games.hangman import Hangman
    from games.tictactoe import TicTacToe
    from gameserver.core.gamehost import move_verb

    assert move_verb(Hangman) == "guessed" and move_verb(TicTacToe) == "played"


@pytest.mark.parametrize(("seconds", "words"), [
    (300, "5 minutes"), (60, "1 minute"), (30, "30 seconds"), (1, "1 second"), (0.2, "1 second"),
])
def test_duration(seconds: float, words: str) -> None:
    assert duration(seconds) == words


# ---------------------------------------------------------------- over the wire


def test_games_lists_every_installed_game(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            reply = await ok(alice.command("games"))
            assert {"tictactoe", "hangman"} <= set(reply["data"]["games"])
            text = "\n".join(reply["lines"])
            assert "Three in a row" in text and "a1..c3" in text and "/guess WORD" in text
            helped = (await ok(alice.command("help")))["lines"]
            for name in ("/games", "/game ", "/accept", "/move", "/guess", "/stats", "/rematch"):
                assert any(line.startswith(name) for line in helped), name
    run(body())


def test_wrong_moves_get_private_specific_errors(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            carol = await logged_in(server.port, "carol")
            gid = await ttt(alice, bob)
            err = await error(bob.say("b2"), "illegal_move")
            assert err["text"] == f"game {gid}: not your turn"
            await ok(alice.say("b2"))
            err = await error(bob.say("5"), "illegal_move")
            assert err["text"] == f"game {gid}: b2 is taken"
            err = await error(carol.command("move", f"{gid} a1"), "illegal_move")
            assert "not playing" in err["text"]
            await error(alice.command("move", f"{gid} z9"), "bad_move")
            await ok(bob.say("a1"))
            await carol.expect("game", game_id=gid, where=lambda f: filled(f) == 2)
            frames = await carol.drain_frames()
            # carol saw the moves, but none of bob's mistakes.
            assert not [f for f in carol.seen if f["type"] == "error" and f.get("id") is None]
            assert "taken" not in str(carol.seen) + str(frames)
            assert "not your turn" not in str(alice.seen)
    run(body())


def test_bot_answers_off_the_loop_and_never_loses(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            gid = (await ok(alice.command("game", "tictactoe bot")))["data"]["game_id"]
            state = await alice.expect("game", game_id=gid)
            assert state["players"] == ["alice", BOT] and state["turn"] == "alice"
            while not state["over"]:
                n = filled(state)
                await ok(alice.say(free_squares(state)[0]))
                # The room sees the move at once, then the bot's answer when its search ends.
                state = await alice.expect("game", game_id=gid,
                                           where=lambda f, n=n: filled(f) > n)
                assert state["over"] or (state["turn"] == BOT and filled(state) == n + 1)
                if not state["over"]:
                    state = await alice.expect("game", game_id=gid,
                                               where=lambda f, n=n: filled(f) > n + 1)
                    assert state["over"] or state["turn"] == "alice"
            assert "alice wins" not in state["status"]
            stats = (await ok(alice.command("stats")))["data"]["stats"]["tictactoe"]
            assert stats["wins"] == 0 and stats["losses"] + stats["draws"] == 1
            # A rematch against the bot swaps seats: the bot opens.
            gid2 = (await ok(alice.command("rematch")))["data"]["game_id"]
            state = await alice.expect("game", game_id=gid2, where=lambda f: filled(f) == 1)
            assert state["players"] == [BOT, "alice"]
            assert state["turn"] == "alice"
            await alice.expect("game_closed", game_id=gid)  # a new game clears the old board
    run(body())


def test_open_invitation_first_to_accept_plays(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            carol = await logged_in(server.port, "carol")
            reply = await ok(alice.command("game", "ttt"))
            gid = reply["data"]["game_id"]
            await carol.expect("notice", where=lambda f: f"/accept {gid}" in f["text"])
            await error(alice.command("accept"), "no_game")  # not your own invitation
            await ok(carol.command("accept"))
            await error(bob.command("accept", str(gid)), "started")
            state = await bob.expect("game", game_id=gid)
            assert state["players"] == ["alice", "carol"]
    run(body())


def test_named_invitation_decline_and_withdraw(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            carol = await logged_in(server.port, "carol")
            await error(alice.command("game", "tictactoe zed"), "not_here")
            await error(alice.command("game", "tictactoe alice"), "usage")
            await error(alice.command("game", "chess"), "no_such_game")
            await error(alice.command("game", "tictactoe bob --fast"), "usage")
            gid = (await ok(alice.command("game", "tictactoe bob")))["data"]["game_id"]
            await error(carol.command("accept", str(gid)), "not_invited")
            await error(carol.command("accept"), "no_game")
            await ok(bob.command("decline"))
            note = await carol.expect("notice", where=lambda f: "declined" in f["text"])
            assert f"game {gid}" in note["text"]
            await error(bob.command("accept", str(gid)), "no_such_game")
            gid = (await ok(alice.command("game", "tictactoe bob")))["data"]["game_id"]
            await ok(alice.command("resign"))  # the host withdraws
            await bob.expect("notice", where=lambda f: "withdrew" in f["text"])
            assert not gamehost(server).tables
    run(body())


def test_plain_move_in_two_of_my_games_asks_which(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            g1 = await ttt(alice, bob)
            g2 = (await ok(alice.command("game", "tictactoe bot")))["data"]["game_id"]
            err = await error(alice.say("b2"), "which_game")
            assert f"{g1}, {g2}" in err["text"] and "/move ID b2" in err["text"]
            await ok(alice.command("move", f"{g2} b2"))
            state = await alice.expect("game", game_id=g2, where=lambda f: filled(f) == 2)
            assert state["turn"] == "alice"
            # bob has only one game, so his plain moves need no number.
            await ok(alice.command("move", f"{g1} a1"))
            await ok(bob.say("c3"))
            await alice.expect("game", game_id=g1, where=lambda f: filled(f) == 2)
    run(body())


def test_plain_move_goes_to_the_one_game_where_it_is_legal(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            carol = await logged_in(server.port, "carol")
            g1 = await ttt(alice, bob)  # alice is X: her turn
            g2 = await ttt(carol, alice)  # carol is X: not alice's turn
            await ok(alice.say("b2"))  # legal only in g1
            await bob.expect("game", game_id=g1, where=lambda f: filled(f) == 1)
            host = gamehost(server)
            assert filled(host.state_of(host.tables[g2]).to_wire()) == 0
            await ok(bob.say("a1"))
            await alice.expect("game", game_id=g1, where=lambda f: filled(f) == 2)
            # Illegal everywhere: the error of the game where it is alice's turn.
            err = await error(alice.say("b2"), "illegal_move")
            assert err["text"] == f"game {g1}: b2 is taken"
            await ok(carol.say("c3"))
            await alice.expect("game", game_id=g2, where=lambda f: filled(f) == 1)
            # c3 is taken in g2, free in g1: it goes to g1 without a question.
            await ok(alice.say("c3"))
            await bob.expect("game", game_id=g1, where=lambda f: filled(f) == 3)
            await ok(bob.say("a3"))
            await alice.expect("game", game_id=g1, where=lambda f: filled(f) == 4)
            # Legal in both: say which.
            err = await error(alice.say("c1"), "which_game")
            assert f"{g1}, {g2}" in err["text"] and "/move ID c1" in err["text"]
            # Not alice's turn anywhere, both squares free: the first game's reason.
            await ok(alice.command("move", f"{g2} c1"))
            await ok(alice.command("move", f"{g1} c1"))
            err = await error(alice.say("b1"), "illegal_move")
            assert err["text"] == f"game {g1}: not your turn"
    run(body())


def test_one_live_hangman_per_room(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            gid = (await ok(alice.command("game", "hangman")))["data"]["game_id"]
            err = await error(bob.command("game", "hm"), "game_running")
            assert err["text"] == (f"a hangman game is already running here (game {gid});"
                                   " join in, or wait for it to end")
            await error(bob.command("game", "hangman --secret", secret="walrus"), "game_running")
            await ok(bob.command("join", "den"))  # another room may have its own
            other = (await ok(bob.command("game", "hangman")))["data"]["game_id"]
            await ok(bob.command("resign", str(other)))
            await ok(bob.command("part", "den"))
            # Two-player games are not limited: moves go by seat.
            await ok(bob.command("game", "tictactoe bot"))
            await ok(bob.command("game", "tictactoe bot"))
            await ok(alice.command("resign", str(gid)))
            await alice.expect("game", game_id=gid, where=lambda f: f["over"])
            await ok(alice.command("game", "hangman"))  # the old one is over
            # /rematch of a hangman game in a room with a live one is refused too.
            await ok(bob.command("join", "den"))
            await ok(alice.command("join", "den"))
            await ok(alice.command("game", "hangman"))
            err = await error(bob.command("rematch"), "game_running")
            assert "already running here" in err["text"]
    run(body())


def test_guesses_are_announced_as_guesses(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            gid = (await ok(alice.command("game", "hangman --secret", secret="walrus")))[
                "data"]["game_id"]
            await ok(bob.say("e"))
            note = await alice.expect("notice", where=lambda f: f["text"].startswith(
                f"game {gid}: bob"))
            assert note["text"] == f"game {gid}: bob guessed e"
            g2 = (await ok(alice.command("game", "tictactoe bot")))["data"]["game_id"]
            await ok(alice.say("b2"))
            note = await bob.expect("notice", where=lambda f: f["text"].startswith(
                f"game {g2}: alice"))
            assert note["text"] == f"game {g2}: alice played b2"
    run(body())


def test_a_disconnected_player_is_waited_for_and_welcomed_back(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            carol = await logged_in(server.port, "carol")
            gid = await ttt(alice, bob)
            await bob.close()
            note = await carol.expect("notice", where=lambda f: "disconnected" in f["text"])
            assert note["text"] == (f"game {gid} waits for bob (disconnected); their seat is"
                                    " kept for 1 minute, then bob forfeits")
            away = await carol.expect("game", game_id=gid, where=lambda f: f.get("away"))
            assert 0 < away["away"]["bob"] <= 60
            bob = await logged_in(server.port, "bob")
            back = await alice.expect("notice", where=lambda f: "is back" in f["text"])
            assert back["text"] == f"bob is back for game {gid}"
            # Logging in from another place is no disconnect: nothing is said.
            bob2 = await logged_in(server.port, "bob")
            await ok(bob2.say("hello"))
            await ok(alice.say("b2"))
            await carol.expect("game", game_id=gid, where=lambda f: filled(f) == 1)
            await carol.drain_frames()
            texts = [f.get("text", "") for f in carol.seen]  # every frame carol read
            assert sum("disconnected" in t for t in texts) == 1
            assert sum("is back" in t for t in texts) == 1
            # An open-play game goes on without its starter.
            await ok(bob2.command("join", "den"))
            await ok(carol.command("join", "den"))
            hang = (await ok(bob2.command("game", "hangman")))["data"]["game_id"]
            await bob2.close()
            note = await carol.expect("notice", where=lambda f: f"game {hang} goes on" in f["text"])
            assert note["text"] == (f"game {hang} goes on without bob (disconnected);"
                                    " their seat is kept")
            # A spectator's disconnect says nothing (game g1 is still live in the lobby).
            dave = await logged_in(server.port, "dave")
            await dave.close()
            await alice.expect("left", nick="dave")
            await alice.drain_frames()
            assert not [f for f in alice.seen if "dave (disconnected)" in f.get("text", "")]
    run(body())


def test_late_joiner_sees_the_boards_and_board_reshows(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            for c in (alice, bob):
                await ok(c.command("join", "den"))
            gid = await ttt(alice, bob)
            hang = (await ok(bob.command("game", "hangman")))["data"]["game_id"]
            await ok(alice.say("b2"))
            # A letter is a hangman guess, a square a tic-tac-toe move, in the same room.
            await ok(alice.say("e"))
            await bob.expect("game", game_id=hang, where=lambda f: "guessed: e" in f["board"])
            await ok(bob.say("a1"))
            await alice.expect("game", game_id=gid, where=lambda f: filled(f) == 2)
            dave = await logged_in(server.port, "dave")
            await ok(dave.command("join", "den"))
            state = await dave.expect("game", game_id=gid)
            assert filled(state) == 2
            await dave.expect("game", game_id=hang)
            reply = await ok(dave.command("board"))
            assert reply["text"] == "2 games in #den"
            await dave.expect("game", game_id=gid)
            await ok(dave.command("part", "den"))
            reply = await ok(dave.command("board"))
            assert reply["text"].startswith("no games in #lobby")
            await ok(bob.command("part", "den"))
            await error(bob.command("move", f"{gid} a1"), "other_room")
            reply = await ok(bob.command("board"))
            assert any(f"game {gid}" in line and "#den" in line for line in reply["lines"])
    run(body())


def test_secret_word_is_checked_and_never_echoed(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            err = await error(alice.command("game", "hangman --secret"), "no_secret")
            assert "your client asks for it without echo" in err["text"]
            for empty in ("", "  "):  # the client asked; the user just pressed Enter
                err = await error(alice.command("game", "hangman --secret", secret=empty),
                                  "no_secret")
                assert err["text"] == "no secret word given; the game was not started"
            err = await error(alice.command("game", "hangman --secret", secret="x1zzy"),
                              "bad_option")
            assert "x1zzy" not in err["text"] and "letters" in err["text"]
            assert "that word" not in err["text"] and "got" not in err["text"]
            err = await error(alice.command("game", "hangman --secret", secret="be"),
                              "bad_option")
            assert err["text"] == "the secret word must be 3-20 letters a-z; yours has 2"
            assert not gamehost(server).tables  # none of these started a game
            await error(alice.command("game", "tictactoe bob --secret", secret="abc"), "usage")
            await error(alice.command("game", "hangman bob"), "usage")
            gid = (await ok(alice.command("game", "hangman --secret", secret="walrus")))[
                "data"]["game_id"]
            await bob.expect("game", game_id=gid)
            assert (await bob.say("hello"))["type"] == "ok"  # not a letter: chat
            err = await error(bob.command("guess", "seal"), "illegal_move")
            assert err["text"].endswith("the word has 6 letters")  # a typo costs no life
            await ok(bob.command("guess", "walrut"))
            await ok(bob.say("W"))
            state = await alice.expect("game", game_id=gid, where=lambda f: "w _ _" in str(f))
            assert "walrus" not in str(bob.seen) + str(state)
            assert gamehost(server).hub.store.live_games()[0][2]["game"]["state"]["secret"] \
                == "walrus"  # kept in the store, for resuming, and nowhere else
    run(body())


def test_resign_stats_and_rematch_swaps_seats(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            err = await error(alice.command("rematch"), "no_game")
            assert err["text"].startswith("you have no finished game to rematch")
            await error(alice.command("resign"), "no_game")
            gid = await ttt(alice, bob)
            await ok(bob.command("resign"))
            state = await alice.expect("game", game_id=gid, where=lambda f: f["over"])
            assert state["status"] == "bob resigns - alice wins"
            await error(bob.command("resign", str(gid)), "over")
            reply = await ok(alice.command("rematch"))
            g2 = reply["data"]["game_id"]
            await bob.expect("notice", where=lambda f: "rematch" in f["text"])
            await ok(bob.command("accept"))
            state = await alice.expect("game", game_id=g2)
            assert state["players"] == ["bob", "alice"] and state["turn"] == "bob"
            stats = await ok(bob.command("stats", "alice"))
            assert stats["data"]["stats"] == {"tictactoe": {"wins": 1, "losses": 0, "draws": 0}}
            assert "1 win, 0 losses, 0 draws" in stats["lines"][0]
            await error(bob.command("stats", "nobody"), "no_such_user")
            fresh = await logged_in(server.port, "fresh")
            reply = await ok(fresh.command("stats"))
            assert reply["text"] == "fresh has not finished a game yet"
            # fresh watched the game but played no part: nothing to rematch.
            err = await error(fresh.command("rematch"), "no_game")
            assert err["text"].startswith("you have no finished game to rematch")
    run(body())


def test_move_clock_warns_at_10_seconds_then_loses_on_time(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            host = gamehost(server)
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            gid = (await ok(alice.command("game", "tictactoe bob --clock 30s")))["data"][
                "game_id"]
            await ok(bob.command("accept", str(gid)))
            start = await alice.expect("game", game_id=gid)
            assert start["clock"] == 30 and 29 <= start["time_left"] <= 30
            await ok(alice.say("b2"))
            state = await bob.expect("game", game_id=gid, where=lambda f: filled(f) == 1)
            assert state["turn"] == "bob" and 29 <= state["time_left"] <= 30
            base = host.tables[gid].since
            server.hub.tick(base + 15)
            server.hub.tick(base + 21)
            server.hub.tick(base + 25)  # warned once only
            warn = await alice.expect("notice", where=lambda f: "left to move" in f["text"])
            assert warn["text"] == f"game {gid} (tictactoe): bob has 9 seconds left to move"
            server.hub.tick(base + 30)
            state = await alice.expect("game", game_id=gid, where=lambda f: f["over"])
            assert state["status"] == "bob ran out of time - alice wins"
            frames = await alice.drain_frames()
            assert sum("left to move" in f.get("text", "") for f in alice.seen + frames) == 1
            # Lost on time is a rated loss.
            rated = (await ok(bob.command("stats")))["data"]["stats"]["tictactoe"]
            assert rated["losses"] == 1 and rated["rating"] < 1500
            # The finished board leaves the screen after a while.
            host.close_after = 5.0
            server.hub.tick(time.time() + 6)
            await bob.expect("game_closed", game_id=gid)
            assert gid not in host.tables
    run(body())


def test_clock_off_keeps_the_idle_timer(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            host = gamehost(server)
            host.turn_timeout = 10.0
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            gid = (await ok(alice.command("game", "tictactoe bob --clock=off")))["data"][
                "game_id"]
            await ok(bob.command("accept", str(gid)))
            state = await alice.expect("game", game_id=gid)
            assert "clock" not in state and "time_left" not in state
            await ok(alice.say("b2"))
            await bob.expect("game", game_id=gid, where=lambda f: filled(f) == 1)
            server.hub.tick(time.time() + 11)
            warn = await alice.expect("notice", where=lambda f: "has not moved" in f["text"])
            assert warn["text"] == (f"game {gid} (tictactoe): bob has not moved for 10 seconds;"
                                    " bob forfeits if there is no move in 10 seconds more")
            server.hub.tick(time.time() + 21)
            state = await alice.expect("game", game_id=gid, where=lambda f: f["over"])
            assert state["status"] == "bob ran out of time - alice wins"
    run(body())


@pytest.mark.parametrize(("args", "says"), [
    ("tictactoe bob --clock", "--clock needs a time per move"),
    ("tictactoe bob --clock soon", "'soon' is not a time per move"),
    ("tictactoe bob --clock 2s", "a move clock is 5 seconds to 24 hours, not 2 seconds"),
    ("tictactoe bob --clock 2d", "'2d' is not a time per move"),
    ("hangman --clock 30s", "hangman is played by the whole room and has no move clock"),
])
def test_bad_clocks_are_refused_with_a_sentence(tmp_path, args, says):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            await logged_in(server.port, "bob")
            err = await error(alice.command("game", args), "usage")
            assert says in err["text"]
    run(body())


def test_unanswered_invitation_expires(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            gamehost(server).turn_timeout = 1.0
            alice = await logged_in(server.port, "alice")
            await logged_in(server.port, "bob")
            gid = (await ok(alice.command("game", "tictactoe bob")))["data"]["game_id"]
            server.hub.tick(time.time() + 3)
            await alice.expect("notice", where=lambda f: "expired" in f["text"])
            assert gid not in gamehost(server).tables
    run(body())


def test_invitation_survives_a_restart(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            await logged_in(server.port, "bob")
            gid = (await ok(alice.command("game", "tictactoe bob")))["data"]["game_id"]
        async with running_server(tmp_path) as server:
            bob = await logged_in(server.port, "bob")
            await bob.expect("notice", where=lambda f: f"/accept {gid}" in f["text"])
            await ok(bob.command("accept"))
            state = await bob.expect("game", game_id=gid)
            assert state["players"] == ["alice", "bob"]
    run(body())


def test_room_with_a_game_outlives_its_members(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            await ok(alice.command("join", "den"))
            gid = (await ok(alice.command("game", "hangman")))["data"]["game_id"]
            await ok(alice.command("part", "den"))
            assert "den" in server.hub.rooms
            await ok(alice.command("join", "den"))
            await alice.expect("game", game_id=gid)
    run(body())


def test_unreadable_saved_games_are_skipped(tmp_path, caplog):
    store = SQLiteStore(tmp_path / "play.db")
    meta = {"v": 1, "host": "ann", "seats": ["ann", "bo"], "invitee": None, "since": 0.0,
            "warned": False}
    bad_moves = {"game": "tictactoe", "players": ["ann", "bo"], "ended": None,
                 "state": {"moves": ["a1", "a1"]}}
    store.save_game(None, "lobby", {**meta, "game_name": "tictactoe", "game": bad_moves}, False)
    store.save_game(None, "lobby", {**meta, "game_name": "chess", "game": None}, False)
    store.save_game(None, "lobby", {"nonsense": True}, False)
    good = store.save_game(None, "lobby", {**meta, "game_name": "tictactoe", "game": None,
                                           "seats": ["ann", None]}, False)
    store.close()

    async def body():
        async with running_server(tmp_path) as server:
            assert list(gamehost(server).tables) == [good]
            bo = await logged_in(server.port, "bo")
            await ok(bo.command("accept"))
            assert (await bo.expect("game", game_id=good))["players"] == ["ann", "bo"]
    with caplog.at_level(logging.WARNING, logger="play.games"):
        run(body())
    assert "cannot resume game 1" in caplog.text and "'chess'" in caplog.text
