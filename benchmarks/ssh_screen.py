"""The SSH door's screen: CPU to update one session's screen for a room message, and its memory.

One room message reaches every session in the room; for each, the door does what this
measures: Controller.take (model.apply), Controller.draw on the session's AnsiCanvas,
AnsiCanvas.render and the UTF-8 encoding of what goes on the channel. SSH encryption
is not in here (benchmarks that run a real SSH server add it; `make_session` and
`update` are for them). Figures are process CPU time; run it alone on the machine
(flock /tmp/bench.lock), the load average is printed with them.

    python benchmarks/ssh_screen.py [--sessions 200] [--messages 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gameclient.ansiscreen import AnsiCanvas, Capabilities  # noqa: E402
from gameclient.controller import Controller  # noqa: E402
from gameclient.model import ClientModel  # noqa: E402
from gameserver.protocol import GameState, RoomMessage, RoomState  # noqa: E402

TARGET_MS = 0.5  # per session and room message (issue 14)
TARGET_MIB = 1.0  # per session, beyond the connection itself (issue 14)
FULL_REDRAW_MS = 0.22  # the figure for drawing the whole screen with the views
SIZES = ((24, 80), (50, 200))
TS = 1_700_000_000.0
WORDS = ("the", "board", "is", "mine", "now", "good", "game", "again?", "lol", "nice move",
         "who is", "up for", "tictactoe", "connect four", "hangman", "brb", "back", "中文",
         "🎉", "café", "x", "o", "draw", "rematch", "ok")


def chat_text(n: int) -> str:
    """An ordinary chat line, different each time (and every 17th names alice)."""
    words = [WORDS[(n * 7 + k * 3) % len(WORDS)] for k in range(3 + n % 9)]
    if n % 17 == 0:
        words.insert(0, "alice:")
    return " ".join(words)


def room_message(n: int, room: str = "lobby") -> RoomMessage:
    speaker = f"user{n % 23}"
    return RoomMessage(room=room, nick=speaker, user=speaker, text=chat_text(n), ts=TS + n)


def tictactoe(room: str = "lobby") -> GameState:
    return GameState(game_id=1, game="tictactoe", room=room, players=["alice", "user1"],
                     turn="alice", board=["    a   b   c", " 1  X | . | .", "   ---+---+---",
                                          " 2  . | O | .", "   ---+---+---", " 3  . | . | ."],
                     status="alice to move", text="user1 played b2; alice to move")


@dataclass
class Session:
    """What the SSH door keeps per session for its screen: a model, a controller, a canvas."""

    model: ClientModel
    controller: Controller
    canvas: AnsiCanvas

    def update(self, message: RoomMessage | GameState) -> bytes:
        """One server message in; the bytes that go on the channel out."""
        self.controller.take(message)
        return self.canvas.render(self.controller.draw(self.canvas)).encode()


def make_session(rows: int, cols: int, *, user: str = "alice", members: int = 200,
                 history: int = 50, board: bool = False,
                 caps: Capabilities | None = None) -> Session:
    """A session logged in to a room of `members` with `history` lines seen, drawn once."""
    model = ClientModel(user=user, nick=user, room="lobby", online=members)
    controller = Controller(model, lambda typed, secret: True, server="play.example:2222")
    controller.take(RoomState(room="lobby", nick=user, online=members, members=[
        {"nick": f"user{n}", "user": f"user{n}"} for n in range(members - 1)]
        + [{"nick": user, "user": user}]))
    for n in range(history):
        controller.take(room_message(-history + n))
    if board:
        controller.take(tictactoe())
    canvas = AnsiCanvas(rows, cols, caps)
    canvas.render(controller.draw(canvas))
    return Session(model, controller, canvas)


def cpu_per_update(rows: int, cols: int, sessions: int, messages: int, *, board: bool,
                   full: bool = False) -> tuple[float, float]:
    """(ms of CPU per session and message, bytes per session and message)."""
    group = [make_session(rows, cols, user=f"alice{n}", board=board) for n in range(sessions)]
    sent = 0
    gc.collect()
    start = time.process_time()
    for n in range(messages):
        message = room_message(n)
        for session in group:
            if full:  # what drawing and sending everything again would cost
                session.controller.invalidate()
                session.canvas.repaint()
            sent += len(session.update(message))
    spent = time.process_time() - start
    count = sessions * messages
    return spent / count * 1000, sent / count


def memory_per_session(rows: int, cols: int, sessions: int) -> float:
    """MiB allocated per session (its model, controller, canvas and both frames)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    group = [make_session(rows, cols, user=f"alice{n}") for n in range(sessions)]
    for session in group:  # a few messages each, as an idle room has
        for n in range(5):
            session.update(room_message(n))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del group
    return (after - before) / sessions / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--messages", type=int, default=200, help="room messages to send")
    parser.add_argument("--repeats", type=int, default=3, help="runs; the best is shown")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"SSH screen: {args.sessions} sessions in one room, {args.messages} room messages;"
          f" load average {load:.2f} on {os.cpu_count()} CPUs")
    print(f"CPU per session per room message (take + draw + render + UTF-8), best of"
          f" {args.repeats}; target < {TARGET_MS} ms")
    for board in (False, True):
        for rows, cols in SIZES:
            runs = [cpu_per_update(rows, cols, args.sessions, args.messages, board=board)
                    for _ in range(args.repeats)]
            ms, sent = min(runs)
            full, full_sent = min(cpu_per_update(rows, cols, args.sessions, args.messages // 4
                                                 or 1, board=board, full=True)
                                  for _ in range(args.repeats))
            verdict = "ok" if ms < TARGET_MS else "OVER"
            what = "chat + board" if board else "chat"
            print(f"  {cols:>3}x{rows:<3} {what:<12} {ms:6.3f} ms {verdict:<4}"
                  f" {sent:7.0f} bytes   (every cell drawn and sent again: {full:.3f} ms,"
                  f" {full_sent:.0f} bytes; the issue's full redraw: {FULL_REDRAW_MS} ms)")
    print(f"Memory per session (model + controller + canvas), {args.sessions} sessions;"
          f" target < {TARGET_MIB} MiB")
    for rows, cols in SIZES:
        mib = memory_per_session(rows, cols, args.sessions)
        verdict = "ok" if mib < TARGET_MIB else "OVER"
        print(f"  {cols:>3}x{rows:<3} {mib:6.3f} MiB {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
