"""The client's pure model: what it knows (room, members, transcript, boards), fed by events."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gameserver.protocol import (
    Broadcast,
    Bye,
    Error,
    GameClosed,
    GameState,
    HistoryPage,
    Joined,
    Left,
    MemberPage,
    Message,
    Notice,
    Ok,
    PrivateMessage,
    Renamed,
    RoomMessage,
    RoomState,
    Welcome,
)

TRANSCRIPT_MAX = 5000
WHO_SHOWN = 30  # names listed on entering a room; /who gives them all


@dataclass(frozen=True)
class Line:
    """One line of the transcript; `kind` says how a view should style it.

    kinds: chat, own (my chat), pm, bm, notice, error, reply, history, game
    """

    kind: str
    text: str
    ts: float
    nick: str = ""  # who said it, for chat/pm/bm, so a view can colour the nick
    body: str = ""  # the text without the nick, for chat


def clock(ts: float) -> str:
    """A timestamp as local HH:MM."""
    return time.strftime("%H:%M", time.localtime(ts))


def history_line(entry: dict) -> str:
    """`[timestamp] [type] [sender -> receiver] text` in the viewer's local time."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.get("ts", 0)))
    receiver = entry.get("receiver", "")
    receiver = "everyone" if receiver == "*" else receiver
    return (f"[{stamp}] [{entry.get('type', '?')}] "
            f"[{entry.get('sender', '?')} -> {receiver}] {entry.get('text', '')}")


@dataclass
class ClientModel:
    """State a client keeps; `apply` updates it from one server message."""

    user: str = ""
    server: str = ""
    nick: str = ""
    room: str = ""
    online: int = 0
    members: dict[str, str] = field(default_factory=dict)  # nick -> username
    transcript: list[Line] = field(default_factory=list)
    games: dict[int, GameState] = field(default_factory=dict)
    ended: str | None = None  # why the session ended, once it has
    token: str = ""

    def add(self, kind: str, text: str, ts: float | None = None, nick: str = "",
            body: str = "") -> Line:
        line = Line(kind, text, time.time() if ts is None else ts, nick, body)
        self.transcript.append(line)
        if len(self.transcript) > TRANSCRIPT_MAX:
            del self.transcript[: len(self.transcript) - TRANSCRIPT_MAX]
        return line

    def room_games(self) -> list[GameState]:
        return [g for g in self.games.values() if g.room == self.room]

    def my_turn(self) -> GameState | None:
        """A game in this room waiting for my move, if any."""
        for game in self.room_games():
            if not game.over and game.turn and game.turn.casefold() == self.user.casefold():
                return game
        return None

    def apply(self, msg: Message) -> list[Line]:
        """Update from one message; returns the transcript lines it added."""
        start = len(self.transcript)
        handler = getattr(self, "_on_" + type(msg).__name__, None)
        if handler is not None:
            handler(msg)
        return self.transcript[start:]

    # one handler per message type

    def _on_Welcome(self, msg: Welcome) -> None:
        self.server = msg.server

    def _on_Ok(self, msg: Ok) -> None:
        data = msg.data or {}
        if "token" in data:
            self.user = data.get("user", self.user)
            self.token = data["token"]
            self.online = data.get("online", self.online)
        if msg.text:
            self.add("reply", msg.text)
        for extra in msg.lines or []:
            self.add("reply", "  " + extra)

    def _on_Error(self, msg: Error) -> None:
        self.add("error", f"! {msg.text}")

    def _on_RoomMessage(self, msg: RoomMessage) -> None:
        own = msg.user.casefold() == self.user.casefold()
        self.add("own" if own else "chat", f"<{msg.nick}> {msg.text}", msg.ts, msg.nick, msg.text)

    def _on_PrivateMessage(self, msg: PrivateMessage) -> None:
        when = f" (sent {clock(msg.ts)} while you were away)" if msg.queued else ""
        self.add("pm", f"[PM from {msg.sender}] {msg.text}{when}", msg.ts, msg.sender, msg.text)

    def _on_Broadcast(self, msg: Broadcast) -> None:
        self.add("bm", f"[broadcast] {msg.sender}: {msg.text}", msg.ts, msg.sender, msg.text)

    def _on_Notice(self, msg: Notice) -> None:
        self.add("error" if msg.kind == "warn" else "notice", f"* {msg.text}")

    def _on_RoomState(self, msg: RoomState) -> None:
        self.room, self.nick, self.online = msg.room, msg.nick, msg.online
        self.members = {m.get("nick", ""): m.get("user", "") for m in msg.members}
        if not msg.more:
            self._say_who_is_here()

    def _on_MemberPage(self, msg: MemberPage) -> None:
        if msg.room != self.room:
            return
        self.members.update({m.get("nick", ""): m.get("user", "") for m in msg.members})
        if msg.last:
            self._say_who_is_here()

    def _say_who_is_here(self) -> None:
        others = sorted((n for n in self.members if n != self.nick), key=str.casefold)
        shown = others[:WHO_SHOWN]
        who = ", ".join(shown) if shown else "nobody else yet"
        if len(others) > len(shown):
            who += f" and {len(others) - len(shown)} more (/who lists them)"
        self.add("notice", f"* you are in #{self.room} as {self.nick}; here: {who}")

    def _on_Joined(self, msg: Joined) -> None:
        self.online = msg.online
        if msg.room == self.room:
            self.members[msg.nick] = msg.user
            self.add("notice", f"* {msg.nick} joined #{msg.room}")

    def _on_Left(self, msg: Left) -> None:
        self.online = msg.online
        if msg.room == self.room:
            self.members.pop(msg.nick, None)
            why = f" ({msg.reason})" if msg.reason else ""
            self.add("notice", f"* {msg.nick} left #{msg.room}{why}")

    def _on_Renamed(self, msg: Renamed) -> None:
        if msg.room != self.room:
            return
        self.members.pop(msg.old, None)
        self.members[msg.new] = msg.user
        if msg.user.casefold() == self.user.casefold():
            self.nick = msg.new
        self.add("notice", f"* {msg.old} is now known as {msg.new}")

    def _on_HistoryPage(self, msg: HistoryPage) -> None:
        if msg.kind == "scrollback":
            if msg.page == 0 and msg.entries:
                self.add("history", f"--- earlier messages in #{msg.room} ---")
            for entry in msg.entries:
                who = ("*" if entry.get("type") == "GAME" else f"<{entry.get('sender')}>")
                self.add("history", f"{clock(entry.get('ts', 0))} {who} "
                                    f"{entry.get('text', '')}", entry.get("ts"))
            if msg.last and (msg.entries or msg.page > 0):
                self.add("history", "--- end of earlier messages ---")
            return
        if msg.page == 0:
            self.add("reply", "your history:" if msg.entries else "your history is empty")
        for entry in msg.entries:
            self.add("history", history_line(entry), entry.get("ts"))

    def _on_GameState(self, msg: GameState) -> None:
        self.games[msg.game_id] = msg

    def _on_GameClosed(self, msg: GameClosed) -> None:
        self.games.pop(msg.game_id, None)

    def _on_Bye(self, msg: Bye) -> None:
        self.ended = msg.reason
        self.add("notice", f"* {msg.reason}")


def board_lines(game: GameState) -> list[str]:
    """A game as text for the line client: a header, the board, the status."""
    head = f"== game {game.game_id}: {game.game} ({' vs '.join(game.players)}) =="
    return [head, *game.board, game.status]
