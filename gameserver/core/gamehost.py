"""Games carried by chat: seats, starting and playing, saving, the hub's hooks. No I/O."""

from __future__ import annotations

import copy
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from games.base import Game, GameError, Outcome, Termination
from games.registry import find_games
from gameserver.core import bots, clocks, gametimers, ladder, moverouting
from gameserver.core.bots import BOT
from gameserver.core.commands import CommandError
from gameserver.core.events import Event
from gameserver.core.extensions import Extension
from gameserver.core.gamesaves import GameSaves
from gameserver.core.pending import Work
from gameserver.core.rooms import Room, Session
from gameserver.core.tables import SAVE_VERSION, Table, describe, describe_kind, move_verb, results
from gameserver.durations import say_duration
from gameserver.protocol import GameClosed, GameList, GameState, Message, Notice, Ok
from gameserver.store import StorageError

if TYPE_CHECKING:
    from gameserver.core.hub import Hub

log = logging.getLogger("play.games")

TURN_TIMEOUT = 300.0  # seconds a turn may stay unplayed before the room is told
CLOSE_AFTER = 120.0  # seconds a finished board stays on screen
BOT_SECONDS = 1.0  # the time a bot may think about one move (off the event loop)
__all__ = ["BOT", "SAVE_VERSION", "GameHost", "Table", "describe_kind", "duration", "move_verb",
           "results"]


def duration(seconds: float) -> str:
    """Seconds as words: '5 minutes', '1 minute', '30 seconds' (gameserver.durations)."""
    return say_duration(seconds)


class Tables(dict[int, Table]):
    """The host's games by id; it tells `changed(any_left)` when it fills or empties, so
    the hub asks the host about chat lines only while there is a game (GameHost.on_say)."""

    __slots__ = ("changed",)

    def __init__(self, changed: Callable[[bool], None]) -> None:
        super().__init__()
        self.changed = changed

    def _after(self, had: bool) -> None:
        if had != bool(self):
            self.changed(not had)

    def __setitem__(self, key: int, table: Table) -> None:
        had = bool(self)
        super().__setitem__(key, table)
        self._after(had)

    def __delitem__(self, key: int) -> None:
        super().__delitem__(key)
        self._after(True)

    def pop(self, key: int, *default: Any) -> Any:
        had = bool(self)
        found = super().pop(key, *default)
        self._after(had)
        return found

    def setdefault(self, key: int, table: Table) -> Table:  # type: ignore[override]
        had = bool(self)
        found = super().setdefault(key, table)
        self._after(had)
        return found

    def popitem(self) -> tuple[int, Table]:
        found = super().popitem()
        self._after(True)
        return found

    def clear(self) -> None:
        had = bool(self)
        super().clear()
        self._after(had)

    def update(self, *args: Any, **kwargs: Any) -> None:
        had = bool(self)
        super().update(*args, **kwargs)
        self._after(had)


class GameHost(Extension):
    """The hub extension that runs games in rooms; see GameHost.install."""

    def __init__(self, hub: Hub, *, games: Mapping[str, type[Game]] | None = None,
                 turn_timeout: float = TURN_TIMEOUT, close_after: float = CLOSE_AFTER,
                 rng: random.Random | None = None,
                 clock: Callable[[], float] = time.time,
                 run_work: Callable[[Work], None] | None = None,
                 bot_seconds: float = BOT_SECONDS, grace: float = clocks.GRACE) -> None:
        self.hub = hub
        # Where a bot's search runs: the runtime's worker (off the event loop); None
        # (in-memory tests) runs it at once, depth-limited.
        self.run_work = run_work
        self.bot_seconds = bot_seconds
        self.grace = grace
        self.games: dict[str, type[Game]] = dict(find_games() if games is None else games)
        self._game_list: GameList | None = None  # what each hello is told (the games are fixed)
        self.turn_timeout = turn_timeout
        self.close_after = close_after
        self.rng = rng if rng is not None else random.Random(os.urandom(16))
        self.clock = clock
        self.tables: dict[int, Table] = Tables(
            lambda any_left: hub.say_hooks.needed(self, any_left))
        self.last_finished: dict[str, Table] = {}  # user -> their latest finished game
        self.away: dict[str, set[int]] = {}  # user -> live games told they disconnected
        # A networked store (the hub commits off the loop): game writes in store threads.
        self.saves = GameSaves(self, deferred=hub.commits_off_loop)

    @classmethod
    def install(cls, hub: Hub, **options: Any) -> GameHost:
        """Create the host, resume saved games, register the commands and hooks."""
        from gameserver.core import gamecommands, gameservice

        host = cls(hub, **options)
        host.load()
        hub.add_extension(host)
        hub.say_hooks.needed(host, bool(host.tables))  # (games it resumed)
        # Game results are recorded under the game's name: no account may speak as one.
        hub.reserved_names.update(
            n.casefold() for kind in host.games.values() for n in (kind.name, *kind.aliases))
        gamecommands.COMMANDS.install(hub, host)
        gameservice.SERVICE_COMMANDS.install(hub, host)
        gamecommands.install_game_commands(host)
        return host

    # ------------------------------------------------------------ saving

    def load(self) -> None:
        """Resume every unfinished game and open invitation the store holds."""
        self.resume(self.hub.store.live_games())

    def resume(self, rows: list[tuple[int, str, Any]]) -> list[Table]:
        """Resume these saved games (at start, or taken over from a node that stopped)."""
        resumed = []
        for game_id, room, state in rows:
            try:
                table = self._restore(game_id, room, state)
            except KeyError as exc:
                log.warning("cannot resume game %d in #%s: its saved state lacks %s",
                            game_id, room, exc)
                continue
            except (GameError, TypeError, ValueError, AttributeError) as exc:
                log.warning("cannot resume game %d in #%s: %s", game_id, room, exc)
                continue
            if table is None:
                continue
            table.saved = state
            self.tables[game_id] = table
            resumed.append(table)
            game = table.game
            # The server may have stopped between a move and the bot's answer.
            if game is not None and (game.is_over or game.turn() == BOT):
                self._bot_turns(table)
                self.after_move(table)
        if resumed:
            log.info("resumed %d game(s)", len(resumed))
        return resumed

    def _restore(self, game_id: int, room: str, state: Mapping[str, Any]) -> Table | None:
        kind = self.games.get(str(state["game_name"]).casefold())
        if kind is None:
            log.warning("game %d in #%s needs %r, which is not installed; left as is",
                        game_id, room, state["game_name"])
            return None
        seats = [None if s is None else str(s) for s in state["seats"]]
        game = None if state["game"] is None else kind.from_json(state["game"])
        # Downtime is nobody's fault: every resumed turn gets a fresh period.
        clock = state.get("clock", kind.move_time)
        moves = state.get("moves")
        return Table(id=game_id, room=room, kind=kind, host=str(state["host"]), seats=seats,
                     invitee=state.get("invitee"), game=game, since=self.clock(),
                     clock=None if clock is None else float(clock), start=state.get("start"),
                     moves=list(moves) if isinstance(moves, list) else [])

    def save(self, table: Table, *, gone: bool = False) -> None:
        """Store the table; `gone` marks it finished or cancelled (never resumed).

        Confirmed means stored for games too: if the store refuses, the table goes back
        to what was last stored (the move, acceptance or cancellation did not happen, and
        the player gets a `storage` reply), so memory never runs ahead of the store for
        long and a restart resumes exactly what players were shown. On SQLite it is
        written at once (a refusal raises StorageError here); on a cluster it is queued
        for the store threads (gamesaves.GameSaves) and what it shows waits for it.
        """
        state = table.to_json()
        if self.saves.deferred:
            self.saves.save(table, state, table.over or gone)
            return
        try:
            self.hub.store.save_game(table.id, table.room, state, table.over or gone)
        except StorageError:
            self.roll_back(table)
            raise
        table.saved = copy.deepcopy(state)

    def confirm(self, session: Session, event: Event, msg_id: int | None) -> None:
        """A reply once the game writes it follows are stored; `storage` if they are refused."""
        refuse = self.hub.refuse(session, msg_id)
        self.saves.then(lambda: self.hub.send(session, event), lambda _error: refuse())

    def roll_back(self, table: Table) -> None:
        """Put a table back as it was last stored (after a refused save)."""
        saved = table.saved
        if saved is None:
            return
        restored = self._restore(table.id, table.room, copy.deepcopy(saved))
        if restored is None:
            return
        for name in ("seats", "invitee", "game", "warned", "clock", "start", "moves",
                     "ended_at", "summary"):
            setattr(table, name, getattr(restored, name))
        table.since = float(saved.get("since", table.since))
        table.thinking = False
        self.tables.setdefault(table.id, table)  # a refused cancel leaves it running

    def create(self, session: Session, msg_id: int | None, room: str, kind: type[Game],
               host: str, seats: list[str | None], then: Callable[[Table], None],
               invitee: str | None = None, clock: float | None | str = "default",
               check: Callable[[], None] | None = None) -> None:
        """Store a new table (its id is the store's), then `then(table)` for the session.

        On a cluster the id comes from a store thread, later: `check` is asked again
        then (the room may have changed meanwhile) and a refusal withdraws the table.
        Errors in either become the session's reply (hub.guarded).
        """
        per_move = kind.move_time if clock == "default" else clock
        table = Table(id=0, room=room, kind=kind, host=host, seats=seats, invitee=invitee,
                      since=self.clock(),
                      clock=None if per_move is None else float(per_move))
        state = table.to_json()
        answer = self.hub.guarded(session, msg_id, then)

        def made(game_id: int) -> None:
            table.id = int(game_id)
            table.saved = copy.deepcopy(state)
            if session.closed:  # nobody to start it for: withdrawn
                self.save(table, gone=True)
                return
            if check is not None and self.saves.deferred:
                try:
                    check()
                except CommandError as exc:
                    self.save(table, gone=True)
                    answer.failed(exc)  # type: ignore[attr-defined]
                    return
            self.add_table(table)
            answer(table)

        store = self.hub.store
        self.saves.call(lambda: store.save_game(None, room, state, False), made,
                        answer.failed)  # type: ignore[attr-defined]

    def add_table(self, table: Table) -> None:
        """A new table is stored: it is played from now on (a cluster announces it here)."""
        self.tables[table.id] = table

    # ------------------------------------------------------------ looking up

    def room_tables(self, room: str) -> list[Table]:
        return sorted((t for t in self.tables.values() if t.room == room), key=lambda t: t.id)

    def user_tables(self, user: str) -> list[Table]:
        return sorted((t for t in self.tables.values() if t.has_seat(user) and not t.over),
                      key=lambda t: t.id)

    def check_room_free_for(self, room: str, kind: type[Game]) -> None:
        """Refuse a second live open-play game of one kind in a room (moves would collide)."""
        if not kind.open_play:
            return
        running = next((t for t in self.room_tables(room) if t.kind is kind and t.live), None)
        if running is not None:
            raise CommandError("game_running", f"a {kind.name} game is already running here"
                                               f" (game {running.id}); join in, or wait for"
                                               " it to end")

    def check_may_offer(self, room: str, user: str) -> None:
        """A muted person starts no game here: its invitation and board speak to the room."""
        community = self.hub.community
        refusal = community.community.mute_refusal(user, room) if community is not None else None
        if refusal is not None:
            raise CommandError("muted", refusal)

    def check_not_invited(self, room: str, host: str, invitee: str) -> None:
        """One open invitation at a time from one person to another in a room (any game)."""
        for table in self.room_tables(room):
            if table.game is None and table.host == host and table.invitee == invitee:
                raise CommandError("already_invited", (
                    f"you already invited {invitee} to {table.name} here (game {table.id});"
                    f" wait for {invitee} to /accept or /decline it, or withdraw it with"
                    f" /resign {table.id}"))

    def table(self, game_id: int) -> Table:
        table = self.tables.get(game_id)
        if table is None:
            raise CommandError("no_such_game", f"there is no game {game_id} running")
        return table

    # ------------------------------------------------------------ delivering

    def to_room(self, room: str, message: Message) -> None:
        """Shown to the room once the game writes before it are stored (gamesaves)."""
        def deliver() -> None:
            target: Room | None = self.hub.rooms.get(room)
            if target is not None:  # nobody there (e.g. just after a restart): nothing to do
                self.hub.deliver_to_room(target, message)

        self.saves.then(deliver)

    def notify(self, room: str, text: str) -> None:
        self.to_room(room, Notice(text=text, kind="game", room=room))

    def state_of(self, table: Table) -> GameState:
        game = table.game
        assert game is not None
        now = self.clock()
        turn = game.turn()
        left = None
        if table.live and turn is not None and turn != BOT:
            left = clocks.time_left(table.clock, table.since, now)
        away = {p: max(0.0, end - now) for p, end in table.away.items()
                if table.live and not self._online(p)}
        return GameState(game_id=table.id, game=table.name, room=table.room,
                         players=list(game.players), turn=turn, board=game.render(),
                         status=game.status(), over=game.is_over, text=describe(game),
                         clock=table.clock, time_left=left, away=away or None)

    def _online(self, user: str) -> bool:
        """Back already (the login is settled on_login, after the room's boards are sent)."""
        session = self.hub.session_of(user)
        return session is not None and not session.closed

    def invite_text(self, table: Table) -> str:
        free = table.seats.count(None)
        if table.invitee is not None:
            return (f"{table.host} invites {table.invitee} to {table.name} (game {table.id}):"
                    f" {table.invitee}, type /accept {table.id} or /decline {table.id}")
        more = "" if free == 1 else f" ({free} seats free)"
        return (f"{table.host} wants to play {table.name} (game {table.id}):"
                f" /accept {table.id} to take the seat{more}")

    def show_room(self, session: Session, room: str, finished: bool = False) -> int:
        """Send one session the room's boards and open invitations; how many there were.

        Entering a room (a login, a resume, a /join) shows the live games only, and the
        last result as a line: a finished board is history, not something to look at
        again at every login. `finished` (/board) re-shows those boards too.
        """
        tables = self.room_tables(room)
        over = [t for t in tables if t.over]
        for table in tables:
            if table.over and not finished:
                continue
            if table.game is not None:
                self.hub.send(session, self.state_of(table))
            else:
                self.hub.send(session, Notice(text=self.invite_text(table), kind="game",
                                              room=room))
        if over and not finished:
            last = max(over, key=lambda t: (t.ended_at or 0.0, t.id))
            self.hub.send(session, Notice(text=f"the last game here: {last.label()} is over:"
                                               f" {last.summary or 'it ended'}", kind="game",
                                          room=room))
        return len(tables)

    # ------------------------------------------------------------ playing

    def start(self, table: Table, options: Mapping[str, str] | None = None) -> None:
        """Every seat is taken: create the game and show it to the room."""
        players = [p for p in table.seats if p is not None]
        table.game = table.kind.new(players, self.rng, options)
        table.start = table.game.to_json()
        table.moves = []
        table.invitee = None
        table.since = self.clock()
        table.warned = False
        # A new game pushes the room's finished boards off the screen.
        for old in self.room_tables(table.room):
            if old.over:
                self.close(old)
        if len(players) > 1:
            who = " vs ".join(players)
        elif table.kind.open_play:
            who = f"started by {players[0]}; anyone here may play"
        else:
            who = players[0]
        text = f"{table.label()} begins ({who}). {table.kind.how_to_play}"
        if self.saves.deferred:  # one save, then the line and the board wait for it
            self.after_move(table, said=text)
            return
        self.notify(table.room, text)
        self._bot_turns(table)
        self.after_move(table)

    def move(self, session: Session, table: Table, move: Any, msg_id: int | None) -> None:
        """Check and apply a parsed move for the session's account, or raise CommandError."""
        user = session.user
        game = table.game
        assert user is not None
        if game is None:
            raise CommandError("not_started",
                               f"game {table.id} has not started; it waits for /accept")
        try:
            game.push(move, user)
        except GameError as exc:
            raise CommandError("illegal_move", f"game {table.id}: {exc}") from None
        table.moves.append([user, move])
        text = f"game {table.id}: {user} {move_verb(table.kind)} {move}"
        if self.saves.deferred:  # one save, then the line, the board and the ok wait for it
            self.after_move(table, said=text)
        else:
            self.save(table)  # refused: the move is undone, and the player gets `storage`
            self.notify(table.room, text)
            self._bot_turns(table)
            self.after_move(table)
        self.confirm(session, Ok(id=msg_id), msg_id)

    def _bot_turns(self, table: Table) -> None:
        """Start the bot's search if it is the bot's turn (see bots.start_search)."""
        bots.start_search(self, table)

    def end_by(self, table: Table, player: str, termination: Termination) -> None:
        """Resign or forfeit for player; raises CommandError if the game refuses."""
        game = table.game
        assert game is not None
        try:
            if termination is Termination.RESIGN:
                game.resign(player)
            else:
                game.forfeit(player)
        except GameError as exc:
            raise CommandError("cannot_resign", f"game {table.id}: {exc}") from None
        self.after_move(table)

    def after_move(self, table: Table, said: str | None = None) -> None:
        """The board changed: restart the turn clock, save, show the room (`said` first)
        and settle an end."""
        table.since = self.clock()
        table.warned = False
        if table.over:
            table.ended_at = self.clock()
            outcome = table.game.outcome() if table.game is not None else None
            table.summary = outcome.summary if outcome is not None else None
            table.away.clear()
        self.save(table)
        if said is not None:
            self.notify(table.room, said)
        self.to_room(table.room, self.state_of(table))
        if table.over:
            self._finish(table)
        elif self.run_work is not None:
            self._bot_turns(table)

    def _finish(self, table: Table) -> None:
        game = table.game
        assert game is not None
        outcome = game.outcome()
        assert outcome is not None
        counted = results(outcome, game.players)
        # Everyone the result counts for may /rematch (hangman's guessers hold no seat).
        for user in dict.fromkeys([*table.humans(), *(user for user, _ in counted)]):
            self.last_finished[user] = table
        text = f"{table.label()} is over: {outcome.summary}"
        room = table.room

        def settle() -> None:  # once the last save is stored (a refused one undid the end)
            for user, result in counted:
                self.hub.store.add_result(user, table.name, result)
            self._rate(table, outcome)
            self.hub.record("GAME", table.name, room, text,
                            then=lambda _entry: self.notify(room, text))

        self.saves.then(settle)

    def _rate(self, table: Table, outcome: Outcome) -> None:
        """Update both players' ratings if the game counts (see ratings.rated_result)."""
        game = table.game
        assert game is not None
        store, players, moves = self.hub.store, list(game.players), len(table.moves)
        ended_at = table.ended_at or self.clock()

        def failed(exc: StorageError) -> None:
            log.error("the rating of game %d could not be stored: %s", table.id, exc)

        # Read and written in a store thread on a cluster, one rating at a time.
        self.saves.call(lambda: ladder.record(store, table.id, table.name, players, outcome,
                                              moves, ended_at, bots=(BOT,)),
                        lambda _rated: None, failed)

    def recompute_ratings(self) -> int:
        """Rebuild every rating from the stored rated results; how many results there were."""
        return ladder.recompute(self.hub.store)

    def cancel(self, table: Table, text: str) -> None:
        """Drop an invitation (declined, withdrawn or expired)."""
        self.tables.pop(table.id, None)
        self.save(table, gone=True)
        self.notify(table.room, text)

    def close(self, table: Table) -> None:
        """Take a finished board off the room's screens."""
        self.tables.pop(table.id, None)
        self.to_room(table.room, GameClosed(game_id=table.id, room=table.room))

    # ------------------------------------------------------------ hub hooks

    def on_say(self, session: Session, msg_id: int, text: str) -> bool:
        """A plain line that is a move in the sender's games here is played (moverouting).

        Asked only while there is a game (Tables tells the hub when that changes)."""
        if not self.tables:  # most chat: no game anywhere
            return False
        return moverouting.play_said(self, session, msg_id, text)

    def on_hello(self, session: Session) -> None:
        """Clients learn the games first: a secret option is asked for without echo."""
        if self._game_list is None:  # once: a login storm's hellos all get the same event
            self._game_list = GameList(games=[describe_kind(k) for k in self.games.values()])
        self.hub.send(session, self._game_list)

    def on_enter_room(self, session: Session, room: Room) -> None:
        self.show_room(session, room.name)

    def on_logout(self, session: Session) -> None:
        """Tell the rooms of the user's live games that their seat waits (gametimers)."""
        gametimers.seats_wait(self, session)

    def on_login(self, session: Session) -> None:
        """Welcome a player back to games that waited; point at those in other rooms."""
        gametimers.seats_back(self, session)

    def on_tick(self, now: float) -> None:
        """Expire invitations, warn and forfeit slow turns, close old boards (gametimers)."""
        gametimers.tick(self, now)

    def room_in_use(self, room_name: str) -> bool:
        return any(t.room == room_name for t in self.tables.values())
