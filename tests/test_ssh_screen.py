"""The SSH door's full screen, read back through pyte from asyncssh's client on loopback."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from helpers import logged_in, run
from sshclients import Terminal, connect, ssh_server

PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"


async def screen_of(door, user: str, cols: int = 80, rows: int = 24, **kwargs) -> Terminal:
    """A new account `user` on a terminal of cols x rows, once its screen is drawn."""
    conn, _ = await connect(door, user, answers=["pw", "pw"])
    terminal = await Terminal.open(conn, cols, rows, **kwargs)
    await terminal.until(f"you are in #lobby as {user}")
    return terminal


def test_the_screen_at_80x24_and_after_window_changes(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            alice = await screen_of(door, "alice")
            rows = alice.rows
            assert len(rows) == 24 and len(rows[0]) == 80
            status = rows[0]
            assert f"127.0.0.1:{door.port}" in status and "#lobby" in status \
                and "alice" in status and "2 online" in status
            assert rows[-1].startswith(">")  # the input line, at the bottom
            await bob.say("hi alice, welcome")
            await alice.until("<bob> hi alice, welcome")
            alice.type("hello bob\r")
            said = await bob.expect("room_msg", user="alice")
            assert said["text"] == "hello bob"
            text = await alice.until("<alice> hello bob")
            assert "<alice> hello bob" in text.splitlines()[-2]  # just above the input line

            alice.resize(100, 30)  # drawn again at once, at the new size
            await alice.until(lambda t: len(t.splitlines()) == 30
                              and "2 online" in t.splitlines()[0]
                              and t.splitlines()[-1].startswith(">"))
            assert len(alice.rows[0]) == 100
            assert any("<alice> hello bob" in row for row in alice.rows)
            alice.resize(30, 6)  # as the curses client says it
            await alice.until("terminal too small")
            alice.resize(80, 24)
            await alice.until(lambda t: "<bob> hi alice, welcome" in t
                              and t.splitlines()[-1].startswith(">"))
            await bob.close()

    run(body())


def test_two_ssh_users_play_tictactoe_to_the_end(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            alice = await screen_of(door, "alice")
            bob = await screen_of(door, "bob")
            alice.type("/game tictactoe bob\r")
            await bob.until("/accept")
            bob.type("/accept\r")
            await alice.until("your move")
            text = await bob.until("#1 tictactoe")
            assert "alice vs bob" in text and "1  . | . | ." in text  # the board pane
            moves = [(alice, "b2"), (bob, "a1"), (alice, "a2"), (bob, "c1"), (alice, "c2")]
            for who, move in moves:
                who.type(move + "\r")
                player = "alice" if who is alice else "bob"
                for terminal in (alice, bob):
                    await terminal.until(f"{player} played {move}")
            for terminal in (alice, bob):
                text = await terminal.until("alice wins with")
                rows = text.splitlines()
                assert any(row.endswith("│  1  O | . | O       ") or "1  O | . | O" in row
                           for row in rows)
                assert any("2  X | X | X" in row for row in rows)
                assert "your move" not in rows[0]  # the game is over: nobody's turn

    run(body())


def test_a_bracketed_paste_is_typed_line_by_line(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            alice = await screen_of(door, "alice")
            assert "\x1b[?2004h" in alice.raw.decode(errors="replace")  # paste marks asked for
            alice.type(f"{PASTE_START}first line\r\nsecond line\r\nstill typing{PASTE_END}")
            one = await bob.expect("room_msg", user="alice")
            two = await bob.expect("room_msg", user="alice")
            assert (one["text"], two["text"]) == ("first line", "second line")
            await alice.until(lambda t: t.splitlines()[-1].startswith("> still typing"))
            await bob.close()

    run(body())


def test_ctrl_c_leaves_cleanly_and_the_room_is_told(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            alice = await screen_of(door, "alice")
            alice.type("\x03")
            await bob.expect("left", user="alice")
            await asyncio.wait_for(alice.closed.wait(), 10)
            raw = alice.raw.decode(errors="replace")
            assert raw.endswith("play: you left\r\n") and "\x1b[?1049l" in raw
            assert alice.chan.get_exit_status() == 0
            await bob.close()

    run(body())


def test_the_shutdown_notice_shows_on_the_screen_before_it_closes(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            alice = await screen_of(door, "alice")
            await server.stop("back in five minutes")
            await asyncio.wait_for(alice.closed.wait(), 10)
            raw = alice.raw.decode(errors="replace")
            assert "back in five minutes" in raw.rsplit("\x1b[?1049l", 1)[1]  # after the screen
            assert "back in five minutes" in alice.text()

    run(body())


def test_no_color_sent_by_the_client_turns_colours_off(tmp_path: Path) -> None:
    colour = re.compile(r"\x1b\[[0-9;]*(3[0-7]|38;5;\d+)m")

    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            plain = await screen_of(door, "nina", env={"NO_COLOR": "1"})
            plain.type("hi\r")
            await plain.until("<nina> hi")
            assert not colour.search(plain.raw.decode(errors="replace"))
            coloured = await screen_of(door, "omar")
            coloured.type("hi\r")
            await coloured.until("<omar> hi")
            assert colour.search(coloured.raw.decode(errors="replace"))

    run(body())


def test_a_vanished_terminal_is_dropped_and_the_room_told(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            bob = await screen_of(door, "bob")
            conn, _ = await connect(door, "carl", answers=["pw", "pw"])
            carl = await Terminal.open(conn)
            await carl.until("you are in #lobby as carl")
            await bob.until("carl")
            conn.abort()
            await bob.until(lambda t: "carl" in t and "connection lost" in t)
            assert "carl" not in server.hub.online

    run(body())


def test_keys_and_other_doors_events_are_drawn_without_waiting_for_the_tick(
        tmp_path: Path) -> None:
    """With the once-a-second tick off, a PM from a play-door client and a key that only
    changes the screen (Alt-2) are drawn at once: nothing waits for a later redraw."""
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            alice = await screen_of(door, "alice")
            bob = await logged_in(server.port, "bob")
            await alice.until("bob joined")
            server.runtime._tick.cancel()  # only the door's own wake can draw it now
            await bob.command("msg", "alice are you there?")
            await alice.until("@bob (1!)")
            alice.type("\x1b2")  # Alt-2: the conversation with bob
            await alice.until("[PM from bob] are you there?")
            alice.type("\x1b[5~")  # PgUp: nothing but the screen changes either
            alice.type("draft")
            await alice.until(lambda t: t.splitlines()[-1].startswith("> draft"))
            await bob.close()

    run(body())


def test_tab_completes_accounts_and_a_secret_word_is_asked_hidden(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            zelda = await logged_in(server.port, "zelda")
            await zelda.close()  # offline now: Tab still knows the account
            alice = await screen_of(door, "alice")
            bob = await screen_of(door, "bob")
            alice.type("/msg zel\t")
            await alice.until(lambda t: t.splitlines()[-1].startswith("> /msg zelda "))
            alice.type("\x15")  # Ctrl-U: the line is gone
            await alice.until(lambda t: t.splitlines()[-1].rstrip() == ">")
            alice.type("/game hangman --secret\r")
            await alice.until("secret word")  # asked once the server said the game can start
            alice.type("zebra\r")
            await bob.until("hangman")
            assert "zebra" not in alice.text() and "zebra" not in bob.text()
            assert b"zebra" not in bytes(alice.raw)  # never echoed, not even as it was typed

    run(body())


def test_a_screen_that_stops_reading_skips_frames_and_catches_up(tmp_path: Path) -> None:
    """A slow reader's output stays bounded: frames are skipped, never queued; when it reads
    again its screen shows the latest state."""
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            conn, _ = await connect(door, "alice", answers=["pw", "pw"])
            alice = Terminal(80, 24)
            import asyncssh

            class Session(asyncssh.SSHClientSession):  # type: ignore[type-arg]
                def data_received(self, data: bytes, datatype: object) -> None:
                    alice.raw += data
                    alice.stream.feed(data)
                    alice.changed.set()

            alice.chan, _ = await conn.create_session(
                Session, term_type="xterm", term_size=(80, 24), encoding=None, window=16384)
            await alice.until("you are in #lobby as alice")
            (client,) = [c for c in door.clients if c.session.user == "alice"]
            server.runtime._tick.cancel()  # no redraw once a second: the catching up is its own
            transport = conn._transport  # the client's socket: stop reading it (no window
            transport.pause_reading()  # adjustments go back, so the server's window runs out)
            for n in range(300):  # one at a time: each is a frame of its own, most of the
                await bob.say(f"line {n} " + f"{n} " * 250)  # chat rewritten each time
            await asyncio.sleep(0.3)
            waiting = client.channel.chan.get_write_buffer_size()
            assert waiting < 64 * 1024 + 16 * 1024, waiting  # bounded, whatever was said
            transport.resume_reading()
            await alice.until("<bob> line 299 ", timeout=30)
            await bob.close()

    run(body())
