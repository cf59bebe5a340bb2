"""The game-service commands: /stats with ratings, /top, /replay, /games recent, --clock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from games.base import GameError
from games.registry import resolve
from gameserver import names
from gameserver.core import clocks
from gameserver.core.commands import CommandError, CommandSet, checked
from gameserver.core.ratings import Rating
from gameserver.core.replays import recent_line, replay_lines, replay_steps
from gameserver.core.rooms import Session
from gameserver.protocol import Command, Ok

if TYPE_CHECKING:
    from gameserver.core.gamehost import GameHost

TOP_DEFAULT, TOP_MAX = 10, 50
RECENT = 10


def _reply(host: GameHost, session: Session, message: Command, text: str,
           lines: list[str] | None = None, data: dict[str, Any] | None = None) -> None:
    host.hub.send(session, Ok(id=message.id, text=text, lines=lines, data=data))


def take_clock(words: list[str]) -> tuple[list[str], float | None | str]:
    """Remove `--clock T` (or `--clock=T`) from the words; the seconds, None (off) or 'default'."""
    clock: float | None | str = "default"
    rest: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word.lower() == "--clock" or word.lower().startswith("--clock="):
            value = word.partition("=")[2] if "=" in word else (
                words[i + 1] if i + 1 < len(words) else "")
            i += 1 if "=" in word else 2
            if not value:
                raise CommandError("usage", "--clock needs a time per move: --clock 30s,"
                                            " 2m or off")
            try:
                clock = clocks.parse_clock(value)
            except clocks.ClockError as exc:
                raise CommandError("usage", str(exc)) from None
            continue
        rest.append(word)
        i += 1
    return rest, clock


def check_clock(kind_name: str, turn_based: bool, clock: float | None | str) -> None:
    if clock != "default" and not turn_based:
        raise CommandError("usage", f"{kind_name} is played by the whole room and has no"
                                    " move clock; leave --clock out")


def stats(host: GameHost, session: Session, message: Command) -> None:
    """/stats [USER]: wins, losses and draws per game, and the rating where there is one."""
    assert session.user is not None
    who = checked(names.check_username, message.args.strip().lstrip("@") or session.user)
    lookups, guarded = host.hub.lookups, host.hub.guarded

    def found(account: tuple[str, str] | None) -> None:
        if account is None:
            raise CommandError("no_such_user", f"there is no user called {who}")
        name = account[0]
        lookups.stats(name).then(guarded(session, message.id, lambda rows: lookups.ratings_of(
            name).then(guarded(session, message.id, lambda rated: answer(name, rows, rated)))))

    def answer(name: str, rows: list[tuple[str, int, int, int]],
               ratings: dict[str, tuple[float, float, float, int]]) -> None:
        _stats_reply(host, session, message, name, rows,
                     {game: Rating(*values) for game, values in ratings.items()})

    lookups.account_hash(who).then(guarded(session, message.id, found))


def _stats_reply(host: GameHost, session: Session, message: Command, name: str,
                 rows: list[tuple[str, int, int, int]], rated: dict[str, Rating]) -> None:
    if not rows:
        _reply(host, session, message, f"{name} has not finished a game yet",
               data={"user": name, "stats": {}})
        return
    lines, data = [], {}
    for game, w, lo, d in rows:
        line = (f"{game:<12} {w} win{'s' if w != 1 else ''}, {lo} loss{'es' if lo != 1 else ''},"
                f" {d} draw{'s' if d != 1 else ''}")
        entry: dict[str, Any] = {"wins": w, "losses": lo, "draws": d}
        rating = rated.get(game)
        if rating is not None:
            line += f"; rating {rating.text()} after {rating.games} rated"
            entry.update(rating=round(rating.rating, 1), rd=round(rating.rd, 1),
                         rated_games=rating.games)
        lines.append(line)
        data[game] = entry
    _reply(host, session, message, f"{name}'s games:", lines, {"user": name, "stats": data})


def top(host: GameHost, session: Session, message: Command) -> None:
    """/top GAME [N]: the game's leaderboard by rating."""
    words = message.args.split()
    if not words or len(words) > 2:
        raise CommandError("usage", "usage: /top GAME [N], e.g. /top tictactoe 10")
    kind = resolve(words[0], host.games)
    if kind is None:
        raise CommandError("no_such_game", f"there is no game called {words[0]!r};"
                                           f" installed: {', '.join(host.games)}")
    if kind.seats != 2:
        raise CommandError("not_rated", f"{kind.name} is not rated (ratings are for"
                                        " two-player games)")
    limit = TOP_DEFAULT
    if len(words) == 2:
        if not words[1].isdigit() or not 1 <= int(words[1]) <= TOP_MAX:
            raise CommandError("usage", f"N is a number from 1 to {TOP_MAX}, not {words[1]!r}")
        limit = int(words[1])
    host.hub.lookups.leaderboard(kind.name, limit).then(host.hub.guarded(
        session, message.id, lambda rows: _top_reply(host, session, message, kind.name, rows)))


def _top_reply(host: GameHost, session: Session, message: Command, game: str,
               rows: list[tuple[str, float, float, int]]) -> None:
    if not rows:
        _reply(host, session, message, f"nobody has a {game} rating yet; play someone"
                                       " (games against the bot do not count)",
               data={"game": game, "top": []})
        return
    lines = []
    for n, (user, rating, rd, games) in enumerate(rows, 1):
        shown = Rating(rating, rd, games=games)
        lines.append(f"{n:>2}. {user:<16} {shown.text()}  {games} rated game"
                     f"{'s' if games != 1 else ''}")
    lines.append("? = provisional: too few games to be sure yet")
    _reply(host, session, message, f"{game} leaderboard:", lines,
           {"game": game, "top": [{"user": u, "rating": round(r, 1), "rd": round(d, 1),
                                        "games": g} for u, r, d, g in rows]})


def recent(host: GameHost, session: Session, message: Command) -> None:
    """/games recent: the room's last finished games, newest first."""
    room = session.room
    if room is None:
        raise CommandError("no_room", "you are not in a room; /join one")
    host.hub.lookups.finished_games(room.name, RECENT).then(host.hub.guarded(
        session, message.id, lambda games: _recent_reply(host, session, message, room.name,
                                                         games)))


def _recent_reply(host: GameHost, session: Session, message: Command, room: str,
                  games: list[tuple[int, dict[str, Any]]]) -> None:
    if not games:
        _reply(host, session, message, f"no finished games in #{room} yet",
               data={"recent": []})
        return
    lines = [recent_line(gid, state) for gid, state in games]
    lines.append("watch one again with /replay ID")
    _reply(host, session, message, f"the last games in #{room}:", lines,
           {"recent": [gid for gid, _ in games]})


def replay(host: GameHost, session: Session, message: Command) -> None:
    """/replay ID: every position of a finished game, for the board pane to step through."""
    text = message.args.strip().lstrip("#")
    if not text.isdigit():
        raise CommandError("usage", "usage: /replay ID (see /games recent for the numbers)")
    game_id = int(text)
    host.hub.lookups.saved_game(game_id).then(host.hub.guarded(
        session, message.id, lambda found: _replay_reply(host, session, message, game_id, found)))


def _replay_reply(host: GameHost, session: Session, message: Command, game_id: int,
                  found: tuple[str, bool, dict[str, Any]] | None) -> None:
    user = session.user
    if found is None:
        raise CommandError("no_such_game", f"there is no game {game_id}")
    room, over, saved = found
    game_json = saved.get("game")
    players = game_json.get("players", []) if isinstance(game_json, dict) else []
    here = session.in_room(room)
    if not here and user not in players:
        raise CommandError("other_room", f"game {game_id} was played in #{room};"
                                         f" /join {room} to replay it")
    if not over or game_json is None:
        raise CommandError("not_over", f"game {game_id} is not finished; /board shows it")
    kind = host.games.get(str(saved.get("game_name", "")).casefold())
    if kind is None:
        raise CommandError("not_installed", f"game {game_id} needs {saved.get('game_name')!r},"
                                            " which is not installed here")
    try:
        steps = replay_steps(kind, saved)
    except GameError as exc:
        raise CommandError("no_replay", f"game {game_id} cannot be replayed: {exc}") from None
    _reply(host, session, message, f"replay of game {game_id} ({kind.name},"
                                   f" {' vs '.join(players)}):",
           replay_lines(game_id, kind, steps),
           {"replay": {"game_id": game_id, "game": kind.name, "room": room,
                       "players": players, "steps": [s.to_json() for s in steps]}})


SERVICE_COMMANDS: CommandSet[GameHost] = CommandSet()
SERVICE_COMMANDS.command("top", "/top GAME [N]", "the best ratings in a game")(top)
SERVICE_COMMANDS.command("replay", "/replay ID", "watch a finished game again, move by move")(
    replay)
