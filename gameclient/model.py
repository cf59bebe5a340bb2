"""The client's pure model: what the server's events say (its reducer), and the games' boards.

The panes (rooms and PM conversations) it keeps are PaneSet's (paneset.py); the client's
own events of the end-to-end layer are pmevents.py's. Both are importable from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gameclient.boards import FINISHED_SHOWN, Replay, board_lines, mmss, still_shown
from gameclient.paneset import COUNTED, TRANSCRIPT_MAX, Line, Pane, PaneSet, clock, mentions
from gameclient.pmevents import E2E_MARK, PLAIN_MARK, KeyAlert, OpenedPM, pm_mark
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
    Presence,
    PrivateMessage,
    Renamed,
    Roles,
    RoomMessage,
    RoomState,
    Welcome,
)

__all__ = [  # and, importable from here, names of the boards', panes' and PM events' modules
    "ClientModel", "history_line",
    "COUNTED", "E2E_MARK", "FINISHED_SHOWN", "PLAIN_MARK", "TRANSCRIPT_MAX", "KeyAlert",
    "Line", "OpenedPM", "Pane", "Replay", "board_lines", "clock", "mentions", "mmss", "pm_mark",
]
WHO_SHOWN = 30  # names listed on entering a room; /who gives them all
ACTION = "/me "  # a room message that is an action
PLAIN_PART = "left"  # the reason of a /part of one's own (the hub's part_room)
REPLACED = "reconnected"  # the reason of an older session's leaving, replaced by a login


def history_line(entry: dict) -> str:
    """`[timestamp] [type] [sender -> receiver] text` in the viewer's local time."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.get("ts", 0)))
    receiver = entry.get("receiver", "")
    receiver = "everyone" if receiver == "*" else receiver
    text = entry.get("text", "")
    if isinstance(entry.get("e2e"), str):  # still sealed: no key here (a server-side export)
        text = f"(end-to-end encrypted, {len(entry['e2e'])} bytes; only its sender's and " \
               "receiver's devices can read it)"
    mark = f"  [{entry['mark']}]" if entry.get("mark") else ""
    return (f"[{stamp}] [{entry.get('type', '?')}] "
            f"[{entry.get('sender', '?')} -> {receiver}] {text}{mark}")


def game_moved(before: GameState | None, now: GameState) -> bool:
    """Whether a game's frame says something happened (not only its clocks ticked, or the
    same board sent again after a reconnect)."""
    return before is None or (before.board, before.status, before.turn, before.over) != (
        now.board, now.status, now.turn, now.over)


class ClientModel(PaneSet):
    """State a client keeps; `apply` updates it from one server message.

    Every room you are in and every PM conversation is a Pane with its own transcript
    (PaneSet); `room`, `nick`, `members` and `transcript` are those of the pane you look at.
    """

    def __init__(self, user: str = "", server: str = "", nick: str = "", room: str = "",
                 online: int = 0, draws_boards: bool = False,
                 now: Callable[[], float] = time.monotonic, bell: bool = True) -> None:
        super().__init__(room, nick)
        self.user = user
        self.server = server
        self.address = ""  # HOST:PORT of the node connected to now (the status bar's)
        self.online = online
        self.games: dict[int, GameState] = {}
        self.ended: str | None = None  # why the session ended, once it has
        self.token = ""
        self.draws_boards = draws_boards  # a view draws boards (and replays) in its own pane
        self.now = now  # for clocks counting down between frames
        self.game_seen: dict[int, float] = {}  # game id -> when its frame came
        self.replay: Replay | None = None
        self.resuming: str | None = None  # after a reconnect: the pane to look at again
        self._coming_back: set[str] = set()  # the rooms a resume brings back, still to come
        self.unverified: dict[str, str] = {}  # contacts with an untrusted key
        self.ignores: set[str] = set()  # user keys whose words are hidden
        self.bell = bell  # ring the terminal's bell on a mention or a PM (/set bell off)

    def room_games(self) -> list[GameState]:
        """The boards of the room looked at; a finished one for a minute (boards.py)."""
        now = self.now()
        return [g for g in self.games.values() if g.room == self.room
                and still_shown(g, self.game_seen.get(g.game_id, now), now)]

    def time_left(self, game: GameState) -> float | None:
        """Seconds left on the move clock now, counted down since the frame came."""
        if game.time_left is None or game.over:
            return None
        return max(0.0, game.time_left - (self.now() - self.game_seen.get(game.game_id, 0.0)))

    def clock_lines(self, game: GameState) -> list[str]:
        """The move clock and grace periods of a game, as short lines; none when it has none."""
        lines = []
        left = self.time_left(game)
        if left is not None and game.turn:
            lines.append(f"{game.turn}: {mmss(left)} left to move")
        elapsed = self.now() - self.game_seen.get(game.game_id, 0.0)
        for player, grace in sorted((game.away or {}).items()):
            if not game.over:
                lines.append(f"{player} is away: {mmss(max(0.0, grace - elapsed))} to come back")
        return lines

    def ticking(self) -> bool:
        """True while something on screen counts down (a clock, a replay, a finished board
        waiting to leave the pane)."""
        if self.replay is not None:
            return True
        return any(g.over or g.time_left is not None or g.away for g in self.room_games())

    def shown_games(self) -> list[GameState]:
        """The room's boards, and the replay's current position if one is running."""
        games = self.room_games()
        replay = self.replay
        if replay is not None:
            step = replay.frame(self.now())
            if step is None:
                self.replay = None
            else:
                games.append(step)
        return games

    def my_turn(self) -> GameState | None:
        """A game in this room waiting for my move, if any."""
        for game in self.room_games():
            if not game.over and game.turn and game.turn.casefold() == self.user.casefold():
                return game
        return None

    def resume(self) -> None:
        """Before a resume's rooms come back (each a `room` frame, in the bar's order): the
        pane looked at now stays the one looked at, whichever of them comes last."""
        self.resuming = self.current
        self._coming_back = {pane.name for pane in self.rooms()}

    def apply(self, msg: Message) -> list[Line]:
        """Update from one message; returns the transcript lines it added (in any pane)."""
        self._added = []
        handler = getattr(self, "_on_" + type(msg).__name__, None)
        if handler is not None:
            handler(msg)
        return self._added

    # one handler per message type

    def _on_Welcome(self, msg: Welcome) -> None:
        self.server = msg.server

    def _on_Ok(self, msg: Ok) -> None:
        data = msg.data or {}
        if "token" in data:
            self.user = data.get("user", self.user)
            self.token = data["token"]
            self.online = data.get("online", self.online)
        self.learn(data)
        if isinstance(data.get("ignores"), list):
            self.ignores = {str(name).casefold() for name in data["ignores"]}
        if isinstance(data.get("pm"), dict) and msg.text:  # my PM, confirmed: a chat line
            ts, to = data["pm"].get("ts"), data["pm"].get("to")
            pane = self._pm_pane(self.user, to) if isinstance(to, str) and to else None
            if pane is not None and pane != self.current:  # seen where it was typed, too
                self.add("pm_echo", msg.text, ts)
            self.add("pm_sent", msg.text, ts, where=pane)  # in its conversation (opened)
            for extra in msg.lines or []:
                self.add("reply", "  " + extra)
            return
        if "check" in data:
            return  # a game could start: the client asks for its secret now (controller.py)
        if msg.text and data.get("room") == self.room and msg.text.startswith(
                f"you are now in #{self.room}"):
            return  # /join: the room's own line said it already
        if msg.text:
            self.add("reply", msg.text)
        replay = Replay.from_data(data.get("replay"), self.now())
        if replay is not None and self.draws_boards:
            self.replay = replay
            self.add("reply", f"  {len(replay.steps)} positions, shown in the board pane")
            return
        for extra in msg.lines or []:
            self.add("reply", "  " + extra)

    def _on_Error(self, msg: Error) -> None:
        self.add("error", f"! {msg.text}")

    def names_me(self, text: str, where: str | None = None) -> bool:
        pane = self.panes.get(self.current if where is None else where)
        return mentions(text, self.user, pane.nick if pane is not None else "")

    def _on_RoomMessage(self, msg: RoomMessage) -> None:
        own = msg.user.casefold() == self.user.casefold()
        if not own and msg.user.casefold() in self.ignores:
            return
        where = msg.room if msg.room in self.panes else None
        mention = not own and self.names_me(msg.text, where)
        if msg.text.startswith(ACTION):
            self.add("action", f"* {msg.nick} {msg.text[len(ACTION):]}", msg.ts, msg.nick,
                     msg.text[len(ACTION):], mention, where=where)
            return
        self.add("own" if own else "chat", f"<{msg.nick}> {msg.text}", msg.ts, msg.nick, msg.text,
                 mention, where=where)

    def _on_PrivateMessage(self, msg: PrivateMessage) -> None:
        if msg.sender.casefold() in self.ignores:
            return
        self.known_users.add(msg.sender)
        when = f" (sent {clock(msg.ts)} while you were away)" if msg.queued else ""
        # A sealed one reaching this model was not opened (a session without keys): its
        # text already says so. A plain one is marked, never mixed with encrypted ones.
        mark = "" if msg.e2e is not None else f"  [{PLAIN_MARK}]"
        self.add("pm", f"[PM from {msg.sender}] {msg.text}{when}{mark}", msg.ts, msg.sender,
                 msg.text, where=self._pm_pane(msg.sender, msg.to))

    def _on_OpenedPM(self, msg: OpenedPM) -> None:
        when = f" (sent {clock(msg.ts)} while you were away)" if msg.queued else ""
        if msg.problem:
            text = f"({msg.problem})"
            self.add("pm", f"[PM from {msg.sender}] {text}{when}", msg.ts, msg.sender, text,
                     where=self._pm_pane(msg.sender, msg.to))
            return
        mark = pm_mark(msg.new_key, msg.sender, msg.sealed_at)
        self.add("pm", f"[PM from {msg.sender}] {msg.text}{when}  [{mark}]", msg.ts, msg.sender,
                 msg.text, where=self._pm_pane(msg.sender, msg.to))

    def _on_KeyAlert(self, msg: KeyAlert) -> None:
        if msg.unverified:
            self.unverified[msg.user.casefold()] = msg.user
        else:
            self.unverified.pop(msg.user.casefold(), None)
        self.add("alert" if msg.loud else "notice", msg.text, where=msg.where)

    def _pm_pane(self, sender: str, to: str) -> str:
        """The pane of a PM conversation: "@" and the other person."""
        return "@" + (to if sender.casefold() == self.user.casefold() else sender)

    def _on_Broadcast(self, msg: Broadcast) -> None:
        if msg.sender.casefold() in self.ignores:
            return
        mention = msg.sender.casefold() != self.user.casefold() and self.names_me(msg.text)
        self.add("bm", f"[broadcast] {msg.sender}: {msg.text}", msg.ts, msg.sender, msg.text,
                 mention)

    def _on_Roles(self, msg: Roles) -> None:
        pane = self._room_pane(msg.room)
        if pane is None:
            return
        first = not pane.roles and not pane.topic
        pane.roles = {str(user).casefold(): str(role) for user, role in msg.roles.items()}
        pane.topic = msg.topic
        here = sorted({user for user in pane.members.values()
                       if user.casefold() in pane.roles}, key=str.casefold)
        if first and here:
            self.add("notice", "* in charge here: " + ", ".join(
                f"{user} ({pane.roles[user.casefold()]})" for user in here), where=pane.name)

    def _on_Notice(self, msg: Notice) -> None:
        where = msg.room if msg.room in self.panes else None
        text = f"* {msg.text}"
        pane = self.panes.get(where) if where is not None and where != self.current else None
        # An invitation to a game in a room you are not looking at counts there (its moves,
        # start and end count by their boards: _on_GameState), unless it is one shown there
        # already (the room's open invitations again at a resume); one to you is for you.
        # Other game notices (a seat taken, someone away or back) are not counted: "lena is
        # back for game 1" is lena's own resume.
        news = msg.kind == "game" and "/accept " in msg.text and pane is not None and all(
            line.text != text for line in pane.transcript)
        self.add("error" if msg.kind == "warn" else "notice", text, where=where)
        if news and pane is not None:
            pane.unread += 1
            if self.names_me(msg.text, where):
                pane.mentions += 1

    def _on_RoomState(self, msg: RoomState) -> None:
        first = self.panes.get(self.current)
        if first is not None and not first.name and self.current == "":
            del self.panes[""]  # the lines before any room belong to the first one
            first.name = msg.room
            self.panes[msg.room] = first
        pane = self.panes.setdefault(msg.room, Pane(msg.room))
        pane.nick, self.online = msg.nick, msg.online
        pane.members = {m.get("nick", ""): m.get("user", "") for m in msg.members}
        if self.resuming is not None and msg.room in self._coming_back:
            self._coming_back.discard(msg.room)  # one of a resume's: where it was in the bar
            if msg.room == self.resuming:
                self.switch(msg.room)
            if not self._coming_back:
                self.resuming = None
        else:
            self.switch(msg.room)  # a room just joined is the one you look at
            self.resuming, self._coming_back = None, set()
        self.known_rooms.add(msg.room)
        self.known_users.update(u for u in pane.members.values() if u)
        if not msg.more:
            self._say_who_is_here(pane)

    def _on_MemberPage(self, msg: MemberPage) -> None:
        pane = self.panes.get(msg.room)
        if pane is None:
            return
        pane.members.update({m.get("nick", ""): m.get("user", "") for m in msg.members})
        if msg.last:
            self._say_who_is_here(pane)

    def _say_who_is_here(self, pane: Pane) -> None:
        others = sorted((n for n in pane.members if n != pane.nick), key=str.casefold)
        shown = others[:WHO_SHOWN]
        who = ", ".join(shown) if shown else "nobody else yet"
        if len(others) > len(shown):
            who += f" and {len(others) - len(shown)} more (/who lists them)"
        self.add("notice", f"* you are in #{pane.name} as {pane.nick}; here: {who}",
                 where=pane.name)

    def _room_pane(self, room: str) -> Pane | None:
        return self.panes.get(room) if room else None

    def _on_Joined(self, msg: Joined) -> None:
        self.online = msg.online
        self.known_users.add(msg.user)
        pane = self._room_pane(msg.room)
        if pane is not None:
            pane.members[msg.nick] = msg.user
            self.add("notice", f"* {msg.nick} joined #{msg.room}", where=msg.room)

    def _on_Left(self, msg: Left) -> None:
        self.online = msg.online
        pane = self._room_pane(msg.room)
        if pane is None:
            return
        why = f" ({msg.reason})" if msg.reason and msg.reason != PLAIN_PART else ""
        if msg.user.casefold() == self.user.casefold() and msg.nick == pane.nick \
                and msg.reason != REPLACED:  # (that one is the session this one replaced)
            del self.panes[msg.room]  # we left it
            if self.current == msg.room:
                rooms = self.rooms()
                self.current = rooms[-1].name if rooms else ""
            if msg.reason != PLAIN_PART:  # a /part's reply says it, and where you are now
                self.add("notice", f"* you left #{msg.room}{why}")
            return
        pane.members.pop(msg.nick, None)
        self.add("notice", f"* {msg.nick} left #{msg.room}{why}", where=msg.room)

    def _on_Renamed(self, msg: Renamed) -> None:
        pane = self._room_pane(msg.room)
        if pane is None:
            return
        pane.members.pop(msg.old, None)
        pane.members[msg.new] = msg.user
        if msg.user.casefold() == self.user.casefold():
            pane.nick = msg.new
        self.add("notice", f"* {msg.old} is now known as {msg.new}", where=msg.room)

    def _on_Presence(self, msg: Presence) -> None:
        """A big room's batch of comings and goings: one line sums it up."""
        self.online = msg.online
        pane = self._room_pane(msg.room)
        if pane is None:
            return
        came = went = renamed = 0
        for change in msg.changes:
            op, user = change.get("op"), str(change.get("user", ""))
            if op == "joined":
                pane.members[str(change.get("nick", ""))] = user
                came += 1
            elif op == "left":
                pane.members.pop(str(change.get("nick", "")), None)
                went += 1
            elif op == "renamed":
                pane.members.pop(str(change.get("old", "")), None)
                pane.members[str(change.get("new", ""))] = user
                if user.casefold() == self.user.casefold():
                    pane.nick = str(change.get("new", ""))
                renamed += 1
        parts = [f"{n} {what}" for n, what in ((came, "joined"), (went, "left"),
                                                (renamed, "renamed")) if n]
        if parts:
            self.add("notice", f"* #{msg.room}: {', '.join(parts)}", where=msg.room)

    def _on_HistoryPage(self, msg: HistoryPage) -> None:
        if msg.kind == "scrollback":
            where = msg.room if msg.room in self.panes else None
            if msg.page == 0 and msg.entries:
                self.add("scrollback", f"--- earlier messages in #{msg.room} ---", where=where)
            for entry in msg.entries:
                sender, text = str(entry.get("sender", "")), str(entry.get("text", ""))
                if entry.get("type") == "ROOM" and " " not in sender:
                    self.known_users.add(sender)
                if sender.casefold() in self.ignores:
                    continue
                name = str(entry.get("nick") or sender)  # as the live line named them then
                who = ("*" if entry.get("type") == "GAME" else f"<{name}>")
                if text.startswith(ACTION) and entry.get("type") == "ROOM":
                    who, text = f"* {name}", text[len(ACTION):]
                self.add("scrollback", f"{who} {text}", entry.get("ts"), name, where=where)
            if msg.last and (msg.entries or msg.page > 0):
                self.add("scrollback", "--- end of earlier messages ---", where=where)
            return
        if msg.page == 0:
            self.add("reply", "your history:" if msg.entries else "your history is empty")
        for entry in msg.entries:
            self.add("history", history_line(entry), entry.get("ts"))

    def _on_GameState(self, msg: GameState) -> None:
        before = self.games.get(msg.game_id)
        self.games[msg.game_id] = msg
        self.game_seen[msg.game_id] = self.now()
        pane = self.panes.get(msg.room)
        if pane is None or msg.room == self.current or not game_moved(before, msg):
            return
        # A move, a start or an end in a room you are not looking at is news there, like
        # a line; one that asks you to move (or ends a game of yours) is for you: its `!`.
        pane.unread += 1
        me = {self.user.casefold(), pane.nick.casefold()} - {""}
        if (msg.turn or "").casefold() in me or (
                msg.over and any(p.casefold() in me for p in msg.players)):
            pane.mentions += 1

    def _on_GameClosed(self, msg: GameClosed) -> None:
        self.games.pop(msg.game_id, None)
        self.game_seen.pop(msg.game_id, None)

    def _on_Bye(self, msg: Bye) -> None:
        self.ended = msg.reason
        self.add("notice", f"* {msg.reason}")
