"""The shared screen controller on the in-memory hub, drawn on the ANSI canvas, read by pyte.

What the SSH door does, without SSH: each user's keys go through the KeyDecoder into a
Controller, its typed lines into the real hub, the hub's events back into the Controller,
and the screen out through an AnsiCanvas into a terminal emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hubpair import Pair, User
from memhub import FakeClock
from test_ansiscreen import Far, assert_same

from gameclient.ansiscreen import AnsiCanvas, Capabilities, capabilities
from gameclient.commands import Typed, Unsendable, typed_message
from gameclient.controller import NOT_SENT, Controller
from gameclient.model import ClientModel
from gameclient.panes import send_to_pane
from gameclient.termkeys import PASTE_END, PASTE_START, Key, KeyDecoder, Paste, Text
from gameserver.protocol import Bye, RoomMessage

SERVER = "127.0.0.1:5220"


class Seat:
    """One user: keys in as bytes, the screen out through pyte; `send_typed` is its door."""

    def __init__(self, world: World, name: str, rows: int, cols: int,
                 caps: Capabilities | None) -> None:
        self.world = world
        self.user: User = world.pair.user(name)
        self.model = ClientModel(user=name)
        self.now = 1000.0
        self.rang = 0
        self.left: list[str] = []
        self.sent: list[tuple[Typed, str | None]] = []
        self.refuse = False  # the way out is gone: send returns False
        self.controller = Controller(self.model, self.send, bell=self.ring, quit=self.left.append,
                                     clock=lambda: self.now, server=SERVER)
        self.canvas = AnsiCanvas(rows, cols, caps)
        self.far = Far(rows, cols)
        self.keys = KeyDecoder()

    def ring(self) -> None:
        self.rang += 1

    def send(self, typed: Typed, secret: str | None) -> bool:
        if self.refuse:
            return False
        self.sent.append((typed, secret))
        send_to_pane(self, self.model, typed, secret)
        return True

    def send_typed(self, typed: Typed, secret: str | None = None, room: str | None = None) -> int:
        msg_id = self.user.next_id()
        self.user.send(typed_message(typed, msg_id, secret, room))
        return msg_id

    def press(self, data: bytes | str) -> None:
        """Bytes as the SSH client sends them; then everyone's screen catches up."""
        for event in self.keys.feed(data) + self.keys.flush():
            self.controller.key(event)
        self.world.pump()

    def type_line(self, text: str) -> None:
        self.press(text.encode() + b"\r")

    def show(self) -> int:
        """Draw and send the frame; the bytes it took."""
        cursor = self.controller.draw(self.canvas)
        return self.far.feed(self.canvas.render(cursor))

    def resize(self, rows: int, cols: int) -> None:
        self.canvas.resize(rows, cols)
        self.far.screen.resize(rows, cols)

    @property
    def lines(self) -> list[str]:
        return list(self.far.screen.display)

    def find(self, text: str) -> tuple[int, int]:
        for y, line in enumerate(self.lines):
            if text in line:
                return y, line.index(text)
        raise AssertionError(f"{text!r} not on the screen:\n" + "\n".join(self.lines))

    @property
    def cursor(self) -> tuple[int, int]:
        return self.far.screen.cursor.y, self.far.screen.cursor.x


class World:
    """The hub in memory with its game host, and the seats of its users."""

    def __init__(self, tmp_path: Path) -> None:
        self.pair = Pair(tmp_path)
        self.pair.extend_games(clock=FakeClock(), grace=60.0)
        self.seats: list[Seat] = []

    def seat(self, name: str, rows: int = 24, cols: int = 80,
             caps: Capabilities | None = None) -> Seat:
        seat = Seat(self, name, rows, cols, caps)
        self.seats.append(seat)
        self.pump()
        return seat

    def pump(self) -> None:
        while self.pair.run_timers():
            pass
        for seat in self.seats:
            for event in seat.user.new():
                seat.controller.take(event)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path)
    yield world
    world.pair.close()


# ---------------------------------------------------------------- the screen


def test_status_bar_chat_and_input_line_at_80x24(world: World) -> None:
    alice, bob = world.seat("alice"), world.seat("bob")
    bob.type_line("hello alice, 中文 🎉")
    alice.press("half typed")
    alice.show()
    status = alice.lines[0]
    assert "play 127.0.0.1:5220" in status and "#lobby" in status and "alice" in status
    assert "2 online" in status and alice.far.char(0, 0).reverse
    y, _ = alice.find("<bob> hello alice, 中文 🎉")
    assert 1 <= y < 23 and alice.far.char(y, alice.lines[y].index("alice,")).reverse  # mention
    assert alice.lines[23].startswith("> half typed")
    assert alice.cursor == (23, 2 + len("half typed"))
    assert_same(alice.far, alice.canvas)


def test_a_tictactoe_board_beside_the_chat_then_after_a_resize(world: World) -> None:
    alice, bob = world.seat("alice"), world.seat("bob")
    alice.type_line("/game tictactoe bob")
    bob.type_line("/accept")
    alice.type_line("b2")
    bob.type_line("a1")
    for seat in (alice, bob):
        seat.show()
        y, x = seat.find("#1 tictactoe")
        assert x > 40 and "│" in seat.lines[y]  # the pane on the right, past its separator
        board = "\n".join(line[x:] for line in seat.lines)
        assert board.count("X") >= 1 and board.count("O") >= 1
        assert_same(seat.far, seat.canvas)
    assert "your move" in "".join(alice.lines)
    turn_y, turn_x = alice.find("your move")
    assert alice.far.char(turn_y, turn_x).reverse
    assert "alice to move" in alice.lines[0] or "your move" in alice.lines[0]
    # narrower: the board goes above the chat; larger: beside it again; tiny: too small
    alice.resize(30, 60)
    alice.show()
    y, x = alice.find("#1 tictactoe")
    assert x < 5 and "─" * 20 in "".join(alice.lines)
    assert_same(alice.far, alice.canvas)
    alice.resize(50, 200)
    alice.show()
    assert alice.find("#1 tictactoe")[1] > 100 and alice.lines[49].startswith("> ")
    assert_same(alice.far, alice.canvas)
    alice.resize(8, 30)
    alice.show()
    text = "\n".join(alice.lines)
    assert "terminal too small" in text and "30x8, need 40x10" in text
    assert alice.far.screen.cursor.hidden
    alice.resize(24, 80)
    alice.show()
    assert "#lobby" in alice.lines[0] and not alice.far.screen.cursor.hidden
    assert_same(alice.far, alice.canvas)


def test_no_color_keeps_reverse_and_bold_but_sends_no_colour(world: World) -> None:
    caps = capabilities({"TERM": "xterm-256color", "NO_COLOR": "1", "LANG": "en_US.UTF-8"})
    alice, bob = world.seat("alice", caps=caps), world.seat("bob")
    bob.type_line("hi")
    alice.type_line("/nosuchcommand")
    sent = alice.canvas.render(alice.controller.draw(alice.canvas))
    alice.far.feed(sent)
    assert "\x1b[3" not in sent and "38;5;" not in sent  # no foreground colour at all
    assert alice.far.char(0, 0).reverse
    y, x = alice.find("<bob>")
    assert alice.far.char(y, x + 1).bold and alice.far.char(y, x + 1).fg == "default"
    coloured = world.seat("carol", caps=capabilities({"TERM": "xterm-256color"}))
    coloured.show()
    world.seats[1].type_line("again")
    coloured.show()
    y, x = coloured.find("<bob> again")
    assert coloured.far.char(y, x + 1).fg != "default"


def test_wide_characters_in_the_input_line_and_the_chat(world: World) -> None:
    alice = world.seat("alice")
    alice.press("中文 ok 🎉")
    alice.show()
    assert alice.lines[23].startswith("> 中文 ok 🎉")
    assert alice.cursor == (23, 2 + 4 + 4 + 2)
    alice.press(b"\x1b[D\x1b[D\x1b[D")  # left past 🎉, the space and k
    alice.show()
    assert alice.cursor == (23, 2 + 4 + 2)
    alice.press("\r")
    alice.show()
    alice.find("<alice> 中文 ok 🎉")
    assert_same(alice.far, alice.canvas)


def test_a_one_line_change_sends_a_few_bytes(world: World) -> None:
    alice, bob = world.seat("alice"), world.seat("bob")
    for n in range(30):
        bob.type_line(f"line {n} of an ordinary conversation")
    full = alice.show()
    assert full > 1500
    alice.press("x")
    typed = alice.show()
    assert typed <= 40, typed  # one cell, its style and the cursor
    assert alice.lines[23].startswith("> x")
    assert alice.show() == 0  # nothing changed: nothing is sent
    bob.type_line("one more line, at the bottom")
    moved = alice.show()
    assert moved < 160, moved  # the chat scrolls up a row on the far side: one row is sent
    assert "<bob> one more line, at the bottom" in alice.lines[22]
    assert_same(alice.far, alice.canvas)
    alice.press(b"\x1b[5~")  # PgUp: the whole chat moves
    assert alice.show() > moved
    assert_same(alice.far, alice.canvas)


def test_a_chat_beside_a_board_scrolls_and_the_board_stays(world: World) -> None:
    alice, bob = world.seat("alice", 50, 200), world.seat("bob")
    alice.type_line("/game tictactoe bot")
    alice.type_line("b2")
    for n in range(60):
        bob.type_line(f"line {n} of an ordinary conversation")
    full = alice.show()
    board = [line[150:] for line in alice.lines]
    bob.type_line("and one more")
    moved = alice.show()
    assert moved < full / 4
    assert [line[150:] for line in alice.lines] == board
    alice.find("<bob> and one more")
    assert_same(alice.far, alice.canvas)


# ---------------------------------------------------------------- keys


def test_alt_digits_and_ctrl_n_ctrl_p_pick_panes(world: World) -> None:
    alice, bob = world.seat("alice"), world.seat("bob")
    alice.type_line("/join den")
    alice.type_line("/join games")
    alice.show()
    assert "1 #lobby 2 #den [3 #games]" in alice.lines[0]
    alice.press(b"\x1b1")  # Alt-1
    alice.show()
    assert "[1 #lobby] 2 #den 3 #games" in alice.lines[0]
    bob.type_line("/join den")
    bob.type_line("over here alice")
    alice.show()
    assert "2 #den (1!)" in alice.lines[0]
    assert alice.model.current == "lobby"
    alice.press(b"\x0e")  # Ctrl-N
    alice.show()
    assert "[2 #den]" in alice.lines[0]
    alice.find("<bob> over here alice")
    alice.press(b"\x10\x10")  # Ctrl-P twice: round to the last
    alice.show()
    assert "[3 #games]" in alice.lines[0]
    alice.press(b"\x1b9")  # no ninth pane
    alice.show()
    assert "you are not in 9" in "".join(alice.lines)
    alice.type_line("/switch den")
    alice.type_line("hi bob")
    assert bob.model.panes["den"].transcript[-1].text.endswith("<alice> hi bob")


def test_page_up_and_down_scroll_the_chat_and_new_lines_are_counted(world: World) -> None:
    alice, bob = world.seat("alice"), world.seat("bob")
    for n in range(60):
        bob.type_line(f"message {n}")
    alice.show()
    alice.find("<bob> message 59")
    alice.press(b"\x1b[5~")
    alice.show()
    assert "message 59" not in "".join(alice.lines)
    top = alice.lines[1]
    assert "more below: PgDn" in alice.lines[22]
    bob.type_line("while you read")
    alice.show()
    assert alice.lines[1] == top and "(1 new)" in alice.lines[22]
    alice.press(b"\x1b[6~\x1b[6~")
    alice.show()
    alice.find("<bob> while you read")
    assert "more below" not in "".join(alice.lines)


def test_home_end_and_editing_keys(world: World) -> None:
    alice = world.seat("alice")
    alice.press(b"world\x1b[Hhello \x1b[F!")  # Home, End (CSI H / CSI F)
    assert alice.controller.editor.text == "hello world!"
    alice.press(b"\x1bOH\x1b[3~")  # Home (SS3), Delete
    assert alice.controller.editor.text == "ello world!"
    alice.press(b"\x05\x17")  # Ctrl-E, Ctrl-W
    assert alice.controller.editor.text == "ello "
    alice.press(b"\x7f\x7f\x15")  # Backspace twice, Ctrl-U
    assert alice.controller.editor.text == ""
    alice.type_line("sent once")
    alice.press(b"\x1b[A")  # Up: what you sent
    assert alice.controller.editor.text == "sent once"
    alice.press(b"\x1b[B")
    assert alice.controller.editor.text == ""


def test_tab_completes_commands_nicks_rooms_and_games(world: World) -> None:
    alice = world.seat("alice")
    world.seat("bobby")
    alice.press(b"/acc\t")
    assert alice.controller.editor.text == "/accept "
    alice.press(b"\x15bob\t")
    assert alice.controller.editor.text == "bobby: "
    alice.press(b"\x15/game tictac\t")
    assert alice.controller.editor.text == "/game tictactoe "


def test_bracketed_paste_says_each_line_and_keeps_the_last_to_edit(world: World) -> None:
    alice, bob = world.seat("alice"), world.seat("bob")
    alice.press(b"> ")
    alice.press(PASTE_START.encode() + b"first line\r\nsecond\tline\nthird"
                + PASTE_END.encode())
    said = [line.body for line in bob.model.transcript if line.nick == "alice"]
    assert said == ["> first line", "second line"]
    assert alice.controller.editor.text == "third"
    alice.show()
    assert alice.lines[23].startswith("> third")
    # a paste with an escape inside is text, never a key
    alice.press(b"\x15" + PASTE_START.encode() + b"a\x1b[Db" + PASTE_END.encode())
    assert alice.controller.editor.text.startswith("a") and alice.controller.editor.text[-1] == "b"
    assert alice.model.current == "lobby"


def test_the_same_events_from_curses_and_the_decoder_do_the_same() -> None:
    model = ClientModel(user="alice", nick="alice", room="lobby")
    sent: list[Typed] = []
    controller = Controller(model, lambda typed, secret: sent.append(typed) or True)
    for event in (Text("hi"), Key("left"), Text("!"), Key("end"), Paste("x\ny"), Key("enter")):
        controller.key(event)
    assert [t.text for t in sent] == ["h!ix", "y"]


# ---------------------------------------------------------------- prompts, sending, leaving


def test_a_secret_word_is_asked_without_echo_and_sent_as_a_secret(world: World) -> None:
    alice, bob = world.seat("alice"), world.seat("bob")
    alice.type_line("/game hangman --secret")
    alice.show()
    assert "secret word (hidden, Esc cancels):" in alice.lines[23]
    before = alice.far.sent
    out = []
    for char in "zebra":
        alice.press(char)
        out.append(alice.canvas.render(alice.controller.draw(alice.canvas)))
    alice.far.feed("".join(out))
    assert "zebra" not in "".join(out) and "*****" in alice.lines[23]
    assert alice.far.sent > before
    alice.press(b"\x1b[A")  # no history inside a secret prompt
    assert alice.controller.secret is not None and alice.controller.secret.text == "zebra"
    alice.press("\r")
    assert alice.sent[-1] == (Typed("/game hangman --secret", "game", "hangman --secret"),
                              "zebra")
    alice.show()
    bob.show()
    bob.find("#1 hangman")
    assert "zebra" not in "\n".join(bob.lines + alice.lines)


def test_password_change_asks_three_hidden_questions(world: World) -> None:
    alice = world.seat("alice")
    alice.type_line("/password")
    alice.show()
    assert "old password (hidden" in alice.lines[23]
    alice.type_line("pw")
    alice.show()
    assert "new password (hidden" in alice.lines[23]
    alice.type_line("s3cret-new")
    alice.type_line("s3cret-new")
    assert alice.sent[-1] == (Typed("/password", "password"), "pw\ns3cret-new")
    assert alice.controller.secret is None


def test_escape_cancels_a_secret_and_a_question(world: World) -> None:
    alice = world.seat("alice")
    alice.type_line("/game hangman --secret")
    alice.press("abc")
    alice.press(b"\x1b")  # a lone Esc, flushed after the wait
    assert alice.controller.secret is None and not any(s for _, s in alice.sent)
    alice.type_line("/msg")
    alice.show()
    assert "to whom" in alice.lines[23]
    alice.press(b"\x1b")
    alice.show()
    assert alice.lines[23].startswith("> ")


def test_msg_alone_asks_whom_then_what(world: World) -> None:
    alice, bob = world.seat("alice"), world.seat("bob")
    alice.type_line("/msg")
    alice.type_line("bob")
    alice.type_line("a private word")
    bob.show()
    assert "2 @alice (1!)" in bob.lines[0]
    bob.press(b"\x1b2")
    bob.show()
    bob.find("a private word")
    assert "[2 @alice]" in bob.lines[0]


def test_a_line_too_long_is_kept_and_said_why(world: World) -> None:
    alice = world.seat("alice")
    alice.press("x" * 70_000)
    alice.press("\r")
    alice.show()
    assert "too long to send" in "".join(alice.lines)
    assert len(alice.controller.editor.text) == 70_000 and alice.sent == []


def test_send_refused_and_unsendable_are_said(world: World) -> None:
    alice = world.seat("alice")
    alice.refuse = True
    alice.type_line("into the void")
    assert alice.model.transcript[-1].text == f"! {NOT_SENT}"

    def bad(typed: Typed, secret: str | None) -> bool:
        raise Unsendable("this device has no key for bob; nothing was sent")

    controller = Controller(ClientModel(user="al", room="lobby"), bad)
    controller.key(Text("hi"))
    controller.key(Key("enter"))
    assert controller.model.transcript[-1].text.endswith("no key for bob; nothing was sent")


def test_the_bell_rings_for_a_mention_or_a_pm_only(world: World) -> None:
    alice, bob = world.seat("alice"), world.seat("bob")
    bob.type_line("just chatting")
    assert alice.rang == 0
    bob.type_line("alice: look")
    assert alice.rang == 1
    bob.type_line("/msg alice psst")
    assert alice.rang == 2
    alice.show()
    assert "(2 for you)" in alice.lines[0]
    alice.press(b"\x1b[C")  # any key: you are looking
    alice.show()
    assert "for you" not in alice.lines[0]
    alice.type_line("/set bell off")
    bob.type_line("alice: again")
    assert alice.rang == 2


def test_ctrl_c_sends_quit_and_leaves_after_the_bye_or_the_grace(world: World) -> None:
    alice = world.seat("alice")
    alice.press(b"\x03")
    assert alice.sent[-1][0].name == "quit" and alice.left == []
    assert any(isinstance(e, Bye) for e in alice.user.events)  # the hub said goodbye
    alice.now += 2.0
    alice.controller.tick()
    assert alice.left == []
    alice.now += 1.5
    alice.controller.tick()
    assert alice.left == ["you left"] or alice.left[0].startswith("bye")


def test_ctrl_c_twice_or_quit_typed_or_ctrl_d_on_an_empty_line(world: World) -> None:
    alice, bob, carol = world.seat("alice"), world.seat("bob"), world.seat("carol")
    alice.press(b"\x03")
    alice.press(b"\x03")
    assert len(alice.left) == 1
    bob.type_line("/quit")
    assert bob.sent[-1][0].is_quit and bob.controller.leaving
    carol.press(b"ab\x01\x04")  # Ctrl-D deletes under the cursor while there is text
    assert carol.controller.editor.text == "b" and not carol.controller.leaving
    carol.press(b"\x05\x15\x04")
    assert carol.controller.leaving


def test_quit_at_once_when_it_cannot_be_sent(world: World) -> None:
    alice = world.seat("alice")
    alice.refuse = True
    alice.press(b"\x03")
    assert alice.left == ["you left"]


def test_dirty_says_when_a_redraw_is_due(world: World) -> None:
    alice, bob = world.seat("alice"), world.seat("bob")
    alice.show()
    assert not alice.controller.dirty
    alice.press(b"\x1b[24~")  # F12: nothing to do
    assert not alice.controller.dirty
    bob.type_line("news")
    assert alice.controller.dirty
    alice.show()
    alice.press("a")
    assert alice.controller.dirty
    alice.show()
    alice.controller.take(RoomMessage(room="lobby", nick="bob", user="bob", text="x", ts=1.0))
    assert alice.controller.dirty
