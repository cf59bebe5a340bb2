"""The game commands (/games, /game, /accept, /move, /resign, /stats ...) as hub handlers."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from games.base import Game, GameError, Termination
from games.registry import resolve
from gameserver import names
from gameserver.core import gameservice
from gameserver.core.commands import CommandError, CommandSet
from gameserver.core.gamehost import BOT, Table, describe_kind
from gameserver.core.rooms import Room, Session
from gameserver.protocol import Command, Ok

if TYPE_CHECKING:
    from gameserver.core.gamehost import GameHost

log = logging.getLogger("play.games")


def _room(session: Session) -> Room:
    if session.room is None:
        raise CommandError("no_room", "you are not in a room; /join one")
    return session.room


def _user(session: Session) -> str:
    assert session.user is not None
    return session.user


def _game_id(text: str) -> int:
    text = text.strip().lstrip("#")
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise CommandError("usage", f"{text!r} is not a game number (see /board)")
    return int(text)


def _member(room: Room, name: str) -> str:
    """The account of the room member called `name` (by nick, else by username)."""
    wanted = names.key(name.lstrip("@"))
    found = room.members.get(wanted)
    if found is None:
        found = next((s for s in room.members.values()
                      if s.user is not None and names.key(s.user) == wanted), None)
    if found is None or found.user is None:
        raise CommandError("not_here", f"{name} is not in #{room.name}; invite someone who is,"
                                       " or leave the opponent out for anyone to /accept")
    return found.user


def _pick(tables: list[Table], what: str, usage: str) -> Table:
    """The one table meant, or a CommandError saying there is none or which to choose."""
    if not tables:
        raise CommandError("no_game", f"you have no {what}")
    if len(tables) > 1:
        ids = ", ".join(str(t.id) for t in tables)
        raise CommandError("which_game", f"you have several {what}s ({ids}); say which: {usage}")
    return tables[0]


def _scrub(error: GameError, secret: str) -> str:
    """A game's error message without the secret word in it (a plugin may quote its input).

    Quoted forms go anywhere; a bare word only as a whole word of 3+ letters, so a
    short bad word such as "be" cannot mangle the message's own words.
    """
    text = str(error)
    for form in (repr(secret), repr(secret.strip())):
        text = text.replace(form, "your word")
    bare = secret.strip()
    if len(bare) >= 3:
        text = re.sub(rf"(?<!\w){re.escape(bare)}(?!\w)", "your word", text, flags=re.IGNORECASE)
    return text


COMMANDS: CommandSet[GameHost] = CommandSet()
command = COMMANDS.command



def reply(host: GameHost, session: Session, message: Command, text: str,
          lines: list[str] | None = None, data: dict | None = None) -> None:
    """The `ok`, once the game writes before it are stored (GameHost.confirm)."""
    host.confirm(session, Ok(id=message.id, text=text, lines=lines, data=data), message.id)


@command("games", "/games [recent]", "the games you can play, or the last ones here")
def games_(host: GameHost, session: Session, message: Command) -> None:
    if message.args.strip().lower() == "recent":
        gameservice.recent(host, session, message)
        return
    lines = []
    for kind in host.games.values():
        also = f" (also {', '.join(kind.aliases)})" if kind.aliases else ""
        seats = "everyone in the room plays" if kind.open_play and kind.seats == 1 else (
            f"{kind.seats} player{'s' if kind.seats != 1 else ''}")
        bot = "; can play the bot" if kind.supports_bot else ""
        lines.append(f"{kind.name}{also} - {kind.description} [{seats}{bot}]")
        lines.append(f"    {kind.how_to_play}")
        for option in kind.options:
            value = "=VALUE" if option.kind == "text" else ""
            lines.append(f"    /game {kind.name} --{option.name}{value}: {option.help}")
        for extra in kind.commands:
            lines.append(f"    /{extra.name} {extra.usage}: {extra.help}")
    lines.append("start one with /game NAME [OPPONENT|bot] [--clock 30s] [--OPTION];"
                 " /games recent lists the last games here")
    reply(host, session, message, f"{len(host.games)} games installed:", lines,
          {"games": {k.name: describe_kind(k) for k in host.games.values()}})


def game_options(kind: type[Game], flags: list[str], secret: str | None,
                 checking: bool = False) -> dict[str, str]:
    """`--name` / `--name=VALUE` words as the game's options, checked against its kinds.

    `checking`: the client asks whether the game could start before it asks for a
    secret, so the secret is not there yet.
    """
    declared = {o.name: o for o in kind.options}
    known = ", ".join([*(f"--{n}" for n in declared), "--clock"])
    options: dict[str, str] = {}
    for flag in flags:
        name, has_value, value = flag[2:].partition("=")
        option = declared.get(name.lower())
        if option is None:
            raise CommandError("usage", f"{kind.name} has no option --{name} (known: {known})")
        if option.kind == "secret":
            if has_value:
                raise CommandError("usage", f"--{option.name} is never typed in the line: your"
                                            " client asks for it without echo")
            what = option.prompt or option.name
            if checking:
                options[option.name] = ""
                continue
            if secret is None:
                raise CommandError("no_secret", f"--{option.name} needs the {what} sent as a"
                                                " secret; your client asks for it without echo")
            if not secret.strip():  # the client asked; the user just pressed Enter
                raise CommandError("no_secret", f"no {what} given; the game was not started")
            options[option.name] = secret
        elif option.kind == "text":
            if not value.strip():
                raise CommandError("usage", f"--{option.name} needs a value: --{option.name}="
                                            "VALUE")
            options[option.name] = value.strip()
        else:
            if has_value:
                raise CommandError("usage", f"--{option.name} takes no value")
            options[option.name] = "yes"
    return options


def ready(host: GameHost, session: Session, message: Command, text: str) -> None:
    """The answer to a check: everything but the secret is fine; nothing was done."""
    reply(host, session, message, text, data={"check": "ok"})


@command("game", "/game NAME [OPPONENT|bot] [--clock 30s]",
                    "start a game in your room (see /games for its options)", checks=True)
def game(host: GameHost, session: Session, message: Command) -> None:
    """Start or offer a game; with `check`, only say whether it could be (nothing is done).

    A client checks first when an option is secret, so nobody types a word for a game
    that cannot start.
    """
    room, user = _room(session), _user(session)
    checking = bool(message.check)
    host.check_may_offer(room.name, user)
    words, clock = gameservice.take_clock(message.args.split())
    flags = [w for w in words if w.startswith("--")]
    words = [w for w in words if not w.startswith("--")]
    if not words or len(words) > 2:
        raise CommandError("usage", "usage: /game NAME [OPPONENT|bot] [--clock 30s] [--OPTION]"
                                    " (see /games for the names)")
    kind = resolve(words[0], host.games)
    if kind is None:
        raise CommandError("no_such_game", f"there is no game called {words[0]!r};"
                                           f" installed: {', '.join(host.games)}")
    gameservice.check_clock(kind.name, kind.seats > 1 and not kind.open_play, clock)
    opponent = words[1] if len(words) == 2 else None
    options = game_options(kind, flags, message.secret, checking)
    if kind.seats == 1 and opponent is not None:
        raise CommandError("usage", f"{kind.name} has one seat and anyone in the room may"
                                    f" play along; start it with /game {kind.name}")
    bot = opponent is not None and opponent.lower() == "bot"
    if bot and not kind.supports_bot:
        raise CommandError("no_bot", f"{kind.name} has no bot; name a room member instead")
    if options and not (kind.seats == 1 or bot):
        raise CommandError("usage", "options work only for a game that starts at once"
                                    " (one seat, or against the bot)")
    host.check_room_free_for(room.name, kind)
    if checking and (kind.seats == 1 or bot):
        ready(host, session, message, f"{kind.name} can start in #{room.name}")
        return
    if kind.seats == 1 or bot:
        seats: list[str | None] = [user, *[BOT] * (kind.seats - 1)]

        def begin(table: Table) -> None:
            try:
                host.start(table, options)
            except GameError as exc:
                host.tables.pop(table.id, None)
                host.save(table, gone=True)
                text = _scrub(exc, message.secret) if message.secret else str(exc)
                raise CommandError("bad_option", text) from None
            reply(host, session, message, f"{table.label()} started",
                  data={"game_id": table.id})

        host.create(session, message.id, room.name, kind, user, seats, begin, clock=clock,
                    check=lambda: host.check_room_free_for(room.name, kind))
        return
    invitee = None
    if opponent is not None:
        invitee = _member(room, opponent)
        if invitee == user:
            raise CommandError("usage", "you cannot play against yourself;"
                                        " name someone else, or bot")
        host.check_not_invited(room.name, user, invitee)
    if checking:
        ready(host, session, message, f"{kind.name} can be offered in #{room.name}")
        return
    seats = [user] + [None] * (kind.seats - 1)

    def offered(table: Table) -> None:
        host.notify(room.name, host.invite_text(table))
        who = f"{invitee} to /accept" if invitee else "someone to /accept"
        reply(host, session, message, f"{table.label()}: waiting for {who}",
              data={"game_id": table.id})

    def still_free() -> None:
        host.check_room_free_for(room.name, kind)
        if invitee is not None:
            host.check_not_invited(room.name, user, invitee)

    host.create(session, message.id, room.name, kind, user, seats, offered, invitee,
                clock=clock, check=still_free)


@command("accept", "/accept [ID]", "take the seat you are offered")
def accept(host: GameHost, session: Session, message: Command) -> None:
    room, user = _room(session), _user(session)
    if message.args.strip():
        table = host.table(_game_id(message.args))
        if table.room != room.name:
            raise CommandError("other_room", f"game {table.id} is in #{table.room}")
        if table.game is not None:
            raise CommandError("started", f"game {table.id} has already started")
        if table.has_seat(user):
            raise CommandError("seated", f"you already have a seat in game {table.id}")
        if table.invitee not in (None, user):
            raise CommandError("not_invited", f"game {table.id} is an invitation for"
                                              f" {table.invitee}")
    else:
        open_ = [t for t in host.room_tables(room.name) if t.game is None
                 and not t.has_seat(user) and t.invitee in (None, user)]
        named = [t for t in open_ if t.invitee == user]
        table = _pick(named or open_, "invitation", "/accept ID")
    table.seats[table.seats.index(None)] = user
    if table.invitee == user:
        table.invitee = None
    if None in table.seats:
        host.save(table)
        host.notify(room.name, f"{user} took a seat in {table.label()};"
                               f" {table.seats.count(None)} more to /accept {table.id}")
    else:
        host.start(table)
    reply(host, session, message, f"you joined {table.label()}", data={"game_id": table.id})


@command("decline", "/decline [ID]", "turn down (or withdraw) an invitation")
def decline(host: GameHost, session: Session, message: Command) -> None:
    room, user = _room(session), _user(session)
    if message.args.strip():
        table = host.table(_game_id(message.args))
        if table.game is not None:
            raise CommandError("started", f"game {table.id} has started; /resign it")
        if user not in (table.invitee, table.host):
            raise CommandError("not_invited", f"game {table.id} is not an invitation to"
                                              " you; just don't /accept it")
    else:
        mine = [t for t in host.room_tables(room.name) if t.game is None
                and user in (t.invitee, t.host)]
        named = [t for t in mine if t.invitee == user]
        table = _pick(named or mine, "invitation", "/decline ID")
    did = "withdrew" if user == table.host else "declined"
    host.cancel(table, f"{user} {did} the invitation to {table.label()}")
    reply(host, session, message, f"you {did} the invitation to {table.label()}")


@command("move", "/move ID TEXT", "a move in a given game (when unclear)")
def move(host: GameHost, session: Session, message: Command) -> None:
    room = _room(session)
    number, _, text = message.args.strip().partition(" ")
    if not number or not text.strip():
        raise CommandError("usage", "usage: /move ID TEXT (the game number is on its board)")
    table = host.table(_game_id(number))
    if table.room != room.name:
        raise CommandError("other_room", f"game {table.id} is in #{table.room};"
                                         f" /join {table.room} to play it")
    if table.game is None:
        raise CommandError("not_started", f"game {table.id} waits for /accept")
    try:
        parsed = table.game.parse_move(text)
    except GameError as exc:
        parsed = None
        for extra in table.kind.commands:  # /move 4 apple means /guess apple in a word game
            try:
                parsed = getattr(table.game, extra.parse)(text)
                break
            except GameError:
                continue
        if parsed is None:
            raise CommandError("bad_move", f"game {table.id}: {exc}") from None
    host.move(session, table, parsed, message.id)


def game_command(host: GameHost, session: Session, message: Command) -> None:
    """`/NAME [ID] ARGS` for a command games declare (hangman's /guess): a move by its parser."""
    name = message.name.lower()
    room = _room(session)
    usage = next((c.usage for k in host.games.values() for c in k.commands if c.name == name),
                 "ARGS")
    words = message.args.split()
    if len(words) >= 2 and words[0].lstrip("#").isdigit():
        table = host.table(_game_id(words[0]))
        if table.room != room.name:
            raise CommandError("other_room", f"game {table.id} is in #{table.room}")
        words = words[1:]
    else:
        takes = [t for t in host.room_tables(room.name)
                 if t.live and any(c.name == name for c in t.kind.commands)]
        if not takes:
            raise CommandError("no_game", f"no game in #{room.name} takes /{name}")
        table = _pick(takes, f"game that takes /{name}", f"/{name} ID {usage}")
    extra = next((c for c in table.kind.commands if c.name == name), None)
    if extra is None or not table.live or table.game is None:
        raise CommandError("no_guess", f"{table.label()} does not take /{name}")
    if not words:
        raise CommandError("usage", f"usage: /{name} [ID] {usage}")
    try:
        parsed = getattr(table.game, extra.parse)(" ".join(words))
    except GameError as exc:
        raise CommandError("bad_move", f"game {table.id}: {exc}") from None
    host.move(session, table, parsed, message.id)


def install_game_commands(host: GameHost) -> None:
    """Each command the installed games declare, once, unless the platform has that name."""
    seen: set[str] = set()
    for kind in host.games.values():
        for extra in kind.commands:
            if extra.name in seen:
                continue
            if extra.name in host.hub.commands:
                log.warning("game %s declares /%s, which is a platform command; not added",
                            kind.name, extra.name)
                continue
            seen.add(extra.name)
            users = [k.name for k in host.games.values()
                     if any(c.name == extra.name for c in k.commands)]
            host.hub.add_command(extra.name, lambda s, m: game_command(host, s, m),
                                 f"/{extra.name} {extra.usage}",
                                 f"{extra.help} ({', '.join(users)})")


@command("board", "/board", "show your room's games again")
def board(host: GameHost, session: Session, message: Command) -> None:
    room, user = _room(session), _user(session)
    count = host.show_room(session, room.name, finished=True)
    elsewhere = [f"your {t.label()} is in #{t.room}" for t in host.user_tables(user)
                 if t.room != room.name]
    text = (f"{count} game{'s' if count != 1 else ''} in #{room.name}" if count
            else f"no games in #{room.name}; start one with /game NAME (see /games)")
    reply(host, session, message, text, elsewhere or None)


@command("resign", "/resign [ID]", "give up a game (or withdraw an invite)")
def resign(host: GameHost, session: Session, message: Command) -> None:
    room, user = _room(session), _user(session)
    if message.args.strip():
        table = host.table(_game_id(message.args))
    else:
        mine = host.user_tables(user)
        here = [t for t in mine if t.room == room.name]
        table = _pick(here or mine, "game", "/resign ID")
    if table.game is None:
        if user != table.host:
            raise CommandError("not_yours", f"game {table.id} is not yours to end")
        host.cancel(table, f"{user} withdrew the invitation to {table.label()}")
        reply(host, session, message, f"you withdrew {table.label()}")
        return
    if table.over:
        raise CommandError("over", f"{table.label()} is already over")
    host.end_by(table, user, Termination.RESIGN)
    reply(host, session, message, f"you resigned {table.label()}")


@command("rematch", "/rematch", "the same game again, seats swapped")
def rematch(host: GameHost, session: Session, message: Command) -> None:
    room, user = _room(session), _user(session)
    last = host.last_finished.get(user)
    if last is None or last.game is None:
        raise CommandError("no_game", "you have no finished game to rematch;"
                                      " start one with /game NAME")
    if last.room != room.name:
        raise CommandError("other_room", f"your last game was in #{last.room};"
                                         f" /join {last.room} to offer a rematch")
    host.check_may_offer(room.name, user)
    host.check_room_free_for(room.name, last.kind)
    old = list(last.game.players)
    kind = last.kind
    if kind.seats == 1 or BOT in old:
        seats: list[str | None] = list(reversed(old)) if BOT in old else [user]

        def begin(table: Table) -> None:
            host.start(table)
            reply(host, session, message, f"{table.label()} started",
                  data={"game_id": table.id})

        host.create(session, message.id, room.name, kind, user, seats, begin, clock=last.clock,
                    check=lambda: host.check_room_free_for(room.name, kind))
        return
    others = [p for p in old if p != user]
    seats = [p if p == user else None for p in reversed(old)]
    invitee = others[0] if len(others) == 1 else None
    if invitee is not None:
        host.check_not_invited(room.name, user, invitee)

    def offered(table: Table) -> None:
        host.notify(room.name, f"rematch! {host.invite_text(table)}")
        reply(host, session, message, f"{table.label()}: rematch offered to"
                                      f" {', '.join(others)}", data={"game_id": table.id})

    def still_free() -> None:
        host.check_room_free_for(room.name, kind)
        if invitee is not None:
            host.check_not_invited(room.name, user, invitee)

    host.create(session, message.id, room.name, kind, user, seats, offered, invitee,
                clock=last.clock, check=still_free)


@command("stats", "/stats [USER]", "wins, losses, draws and ratings per game")
def stats(host: GameHost, session: Session, message: Command) -> None:
    gameservice.stats(host, session, message)
