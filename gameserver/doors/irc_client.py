"""One IRC client's translation, sans-IO: IRC lines to the core's messages, its events to lines."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from gameserver.core.events import RoomView, TopicChanged
from gameserver.doors import irc_numerics as n
from gameserver.doors.irc_register import CheckPassword, Quit, Registered, Registration
from gameserver.doors.irc_text import board_notices, is_ctcp, parse_action, strip_formatting
from gameserver.doors.irc_wire import BadLine, Message, fit_lines, room_for_trailing
from gameserver.doors.lines import split_text
from gameserver.protocol import (
    PROTOCOL_VERSION,
    Broadcast,
    Bye,
    Command,
    Error,
    GameState,
    HistoryPage,
    Joined,
    Left,
    Login,
    Notice,
    Ok,
    Presence,
    PrivateMessage,
    Renamed,
    RoomMessage,
    Say,
    Welcome,
)
from gameserver.protocol import Hello as PlayHello
from gameserver.protocol import Message as PlayMessage

# IRC verbs answered here; any other verb that names a play command (GAME, ACCEPT,
# RESIGN ...) goes to the core's command table as `/verb params`.
IRC_VERBS = frozenset({
    "PING", "PONG", "QUIT", "JOIN", "PART", "PRIVMSG", "NOTICE", "NAMES", "LIST", "TOPIC",
    "WHO", "WHOIS", "MODE", "NICK", "USER", "PASS", "CAP", "AUTHENTICATE", "MOTD", "LUSERS",
    "VERSION", "TIME", "AWAY", "USERHOST", "ISON", "KICK", "INVITE", "WHOWAS",
})
ACTION_PREFIX = "/me "  # how the core marks an action (core/socialcommands.py)
CTCP_ACTION = "\x01ACTION "
BANG = "!"  # `!game tictactoe bob` in a channel is the play command /game tictactoe bob
PLAIN_PART = "left"  # the core's reason for a /part of one's own (hub.part_room)


@dataclass(frozen=True)
class Out:
    """Bytes for the client; `paced` ones (boards, scrollback) go out no faster than the pacer."""

    data: bytes
    paced: bool = False


def mask(user: str, host: str) -> str:
    """The IRC source of a play user: the account name is the nick, on every door."""
    return f"{user}!{user}@{host}"


def channel(room: str) -> str:
    return f"#{room}"


def room_of(target: str) -> str:
    return target[1:] if target.startswith("#") else target


def part_params(room: str, reason: str | None) -> tuple[str, ...]:
    """PART's parameters: a reason only when there is one to tell (a plain /part has none)."""
    return (channel(room), reason) if reason and reason != PLAIN_PART else (channel(room),)


def _lines(messages: list[Message]) -> bytes:
    return b"".join(m.to_bytes() for m in messages)


def clock(ts: float) -> str:
    return time.strftime("%H:%M", time.localtime(ts))


def shared_lines(event: Any, host: str, server: str, colour: bool = True
                 ) -> tuple[bytes, str | None, bool] | None:
    """A room event as the same IRC lines for every IRC member of the room (encoded once).

    Returns (lines, the account not to send them to (its own message), paced), or None
    when the event is not a room-wide one.
    """
    kind = type(event)
    if kind is RoomMessage:
        base = Message(verb="PRIVMSG", params=(channel(event.room),),
                       source=mask(event.user, host))
        if event.text.startswith(ACTION_PREFIX):  # /me waves: a CTCP ACTION on IRC
            return action_lines(base, event.text[len(ACTION_PREFIX):]), event.user, False
        return _lines(fit_lines(base, event.text)), event.user, False
    if kind is Joined:
        return Message(verb="JOIN", params=(channel(event.room),),
                       source=mask(event.user, host)).to_bytes(), event.user, False
    if kind is Left:
        return Message(verb="PART", params=part_params(event.room, event.reason),
                       source=mask(event.user, host)).to_bytes(), event.user, False
    if kind is Presence:
        return b"".join(presence_lines(event, host, server)), None, False
    if kind is Renamed:
        text = f"{event.user} is now known as {event.new} in {channel(event.room)}"
        if event.new == event.user:
            text = f"{event.user} goes by their own name again in {channel(event.room)}"
        return _lines(fit_lines(Message(verb="NOTICE", params=(channel(event.room),),
                                        source=server), text)), None, False
    if kind is GameState:
        return board_lines(event, server, colour), None, True
    if kind is TopicChanged:  # `:nick!user@host TOPIC #room :text`, the setter's echo too
        return Message(verb="TOPIC", params=(channel(event.room), event.topic),
                       source=mask(event.by, host)).to_bytes(), None, False
    if kind is Notice and event.room:
        return _lines(fit_lines(Message(verb="NOTICE", params=(channel(event.room),),
                                        source=server), event.text)), None, event.kind == "game"
    return None


def presence_lines(event: Presence, host: str, server: str) -> list[bytes]:
    """A big room's batch of comings and goings as the JOIN/PART/NOTICE lines they mean."""
    out: list[bytes] = []
    for change in event.changes:
        op, user = change.get("op"), str(change.get("user", ""))
        if op == "joined":
            out.append(Message(verb="JOIN", params=(channel(event.room),),
                               source=mask(user, host)).to_bytes())
        elif op == "left":
            out.append(Message(verb="PART", params=part_params(event.room, change.get("reason")),
                               source=mask(user, host)).to_bytes())
        elif op == "renamed":
            text = f"{user} is now known as {change.get('new')} in {channel(event.room)}"
            out.append(_lines(fit_lines(Message(verb="NOTICE", params=(channel(event.room),),
                                                source=server), text)))
    return out


def action_lines(base: Message, action: str) -> bytes:
    """`\x01ACTION waves\x01` lines, each piece of a long action wrapped whole."""
    room = room_for_trailing(Message(verb=base.verb, params=(*base.params, ""),
                                     source=base.source)) - len(CTCP_ACTION) - 1
    return b"".join(Message(verb=base.verb, params=(*base.params, f"{CTCP_ACTION}{piece}\x01"),
                            source=base.source).to_bytes() for piece in split_text(action, room))


def board_lines(game: GameState, server: str, colour: bool) -> bytes:
    header = f"#{game.game_id} {game.game}: {' vs '.join(game.players) or 'waiting for players'}"
    texts = [header, *board_notices(game.board, colour), game.status]
    target = channel(game.room)
    return b"".join(_lines(fit_lines(Message(verb="NOTICE", params=(target,), source=server),
                                     text)) for text in texts)


class IrcClient:
    """The IRC side of one session: `line()` for what the client sends, `event()` for the core's.

    What to write collects in `out`; messages for the core in `to_core`; `close` is
    set (with the reason) when the connection should end after `out` is written.
    """

    def __init__(self, info: n.ServerInfo, isupport: dict[str, str | None],
                 commands: Callable[[], Collection[str]],
                 counts: Callable[[], tuple[int, int, int]],
                 host: str | None = None, online: Callable[[str], bool] | None = None,
                 rules: Callable[[str], dict[str, Any]] | None = None) -> None:
        self.info = info
        self.server = info.name
        self.host = host or info.name
        self.isupport = isupport
        self.commands = commands  # the core's command names, for GAME and !game
        self.counts = counts  # (users online, rooms, most users online since start): LUSERS
        self.rules = rules or (lambda room: {})  # a room's topic, invite-only, slow mode
        self.online = online or (lambda user: False)  # is this account online (NICK: 433)
        self.registration = Registration(info.name)
        self.out: list[Out] = []
        self.to_core: list[PlayMessage] = [PlayHello(version=PROTOCOL_VERSION, client="irc")]
        self.close: str | None = None
        self.account: str | None = None  # once logged in
        self.account_key = ""  # its casefold, for the door's hot path
        self.nick = "*"
        self.room: str | None = None  # the room last joined or spoken in
        self.rooms: dict[str, list[str]] = {}  # every channel we are in -> its members' users
        self.registered = False
        self.colour = True
        self._early: list[Any] = []  # events that came before the welcome burst went out
        self._pending: dict[int, tuple[str, str]] = {}  # id -> (what, detail)
        self._next_id = 1
        self._password_pending = False
        self._plain_told: set[str] = set()  # peers told their PMs are not end-to-end encrypted

    # ------------------------------------------------------------ helpers

    def send(self, *messages: Message, paced: bool = False) -> None:
        if messages:
            self.out.append(Out(_lines(list(messages)), paced))

    def reply(self, code: str, *params: str) -> None:
        self.send(n.reply(self.server, self.nick, code, *params))

    def notice(self, text: str, target: str | None = None, paced: bool = False) -> None:
        self.send(*fit_lines(Message(verb="NOTICE", params=(target or self.nick,),
                                     source=self.server), text), paced=paced)

    def core(self, message_type: type, what: str, detail: str = "", **fields: Any) -> None:
        msg_id = self._next_id
        self._next_id += 1
        self._pending[msg_id] = (what, detail)
        self.to_core.append(message_type(id=msg_id, **fields))

    def command(self, name: str, args: str = "", what: str = "", detail: str = "") -> None:
        self.core(Command, what or name, detail, name=name, args=args)

    def quit(self, reason: str) -> None:
        if self.close is not None:
            return
        self.send(Message(verb="ERROR", params=(f"Closing Link: {self.host} ({reason})",)))
        self.close = reason

    # ------------------------------------------------------------ from the client

    def line(self, item: Message | BadLine) -> None:
        if isinstance(item, BadLine):
            if item.numeric:
                self.reply(item.numeric, item.reason)
            else:
                self.notice(f"unreadable line: {item.reason}")
            return
        if not self.registered:
            if self.account is None or item.command in ("CAP", "PING", "QUIT", "AUTHENTICATE",
                                                        "NICK", "USER", "PASS"):
                self._registering(self.registration.receive(item))
            return
        handler = getattr(self, "_irc_" + item.command, None)
        if handler is not None:
            handler(item)
        elif item.command.lower() in self.commands() and item.command not in IRC_VERBS:
            self.command(item.command.lower(), " ".join(item.params), "play")
        else:
            self.reply(n.ERR_UNKNOWNCOMMAND, item.verb, "Unknown command")

    def _registering(self, outputs: list[Any]) -> None:
        for output in outputs:
            if isinstance(output, Message):
                self.send(output)
            elif isinstance(output, CheckPassword):
                self.core(Login, "sasl", output.account, user=output.account,
                          password=output.password)
            elif isinstance(output, Registered):
                self.nick = output.nick
                if output.password is None:  # SASL logged in already
                    self._welcome()
                else:
                    self.core(Login, "login", output.account, user=output.account,
                              password=output.password)
            elif isinstance(output, Quit):
                self.quit(output.reason)

    def _welcome(self) -> None:
        assert self.account is not None
        self.nick = self.account
        self.registered = True
        users, rooms, most = self.counts()
        self.send(*n.welcome_burst(self.info, self.nick, self.isupport, users, rooms, most))
        early, self._early = self._early, []
        for event in early:
            self.event(event)

    def _irc_PING(self, message: Message) -> None:
        self.send(Message(source=self.server, verb="PONG",
                          params=(self.server, message.param(0, self.server))))

    def _irc_PONG(self, message: Message) -> None:
        pass

    def _irc_QUIT(self, message: Message) -> None:
        self.command("quit", what="quit")
        self.quit(message.param(0, "Client Quit") or "Client Quit")

    def _irc_NICK(self, message: Message) -> None:
        wanted = message.param(0)
        if not wanted:
            self.reply(n.ERR_NONICKNAMEGIVEN, "No nickname given")
        elif wanted.casefold() == self.nick.casefold():
            pass
        elif self.online(wanted):  # someone else's, in use: the numeric clients expect
            self.reply(n.ERR_NICKNAMEINUSE, wanted, "Nickname is already in use (it is"
                       " another account's); on this server your nick is your account name")
        else:
            self.reply(n.ERR_ERRONEUSNICKNAME, wanted,
                       "On this server your nick is your account name; it cannot change")

    def _irc_USER(self, message: Message) -> None:
        self.reply(n.ERR_ALREADYREGISTERED, "You may not reregister")

    _irc_PASS = _irc_USER

    def _irc_CAP(self, message: Message) -> None:
        for output in self.registration.cap(message):  # LS, LIST, REQ still work; END is a no-op
            if isinstance(output, Message):
                self.send(output)

    def _irc_AUTHENTICATE(self, message: Message) -> None:
        self.reply(n.ERR_SASLALREADY, "You have already authenticated")

    def _irc_JOIN(self, message: Message) -> None:
        if not message.params:
            self.reply(n.ERR_NEEDMOREPARAMS, "JOIN", "Not enough parameters")
            return
        for target in message.params[0].split(","):
            if target == "0":
                self.notice("you are always in one room; JOIN another to leave this one")
            elif not target.startswith("#"):
                self.reply(n.ERR_NOSUCHCHANNEL, target, "Channels here start with #")
            elif room_of(target).lower() not in self.rooms:
                self.command("join", room_of(target), "join", target)

    def _irc_PART(self, message: Message) -> None:
        if not message.params:
            self.reply(n.ERR_NEEDMOREPARAMS, "PART", "Not enough parameters")
            return
        for target in message.params[0].split(","):
            room = room_of(target).lower()
            if room not in self.rooms:
                self.reply(n.ERR_NOTONCHANNEL, target, "You're not on that channel")
            elif len(self.rooms) == 1:
                self.notice("you are always in at least one room; JOIN another channel to"
                            " leave this one", channel(room))
            else:
                self.command("part", room, "part", target)

    def _irc_PRIVMSG(self, message: Message, notice: bool = False) -> None:
        if not message.params:
            if not notice:
                self.reply(n.ERR_NORECIPIENT, "No recipient given (PRIVMSG)")
            return
        if len(message.params) < 2 or not message.params[1]:
            if not notice:
                self.reply(n.ERR_NOTEXTTOSEND, "No text to send")
            return
        text = message.params[1]
        action = parse_action(text)
        if action is not None:
            action = strip_formatting(action)
            text = f"* {self.nick} {action}"  # as a private message shows it
        elif is_ctcp(text):
            return  # VERSION, PING ... between clients: not for play
        text = strip_formatting(text)
        what = "notice" if notice else "say"
        for target in message.params[0].split(","):
            if target.startswith("#"):
                room = room_of(target).lower()
                if room not in self.rooms:
                    if not notice:
                        self.reply(n.ERR_CANNOTSENDTOCHAN, target,
                                   f"You are not in {target}; JOIN it first")
                    continue
                self.room = room
                word, _, rest = text.partition(" ")
                if action is not None:
                    if action.strip():
                        self.core(Command, what, "", name="me", args=action, room=room)
                elif word.startswith(BANG) and word[1:].lower() in self.commands():
                    self.core(Command, "play", "", name=word[1:].lower(), args=rest.strip(),
                              room=room)
                else:
                    self.core(Say, what, target, text=text, room=room)
            else:
                self.command("msg", f"{target} {text}", "msg" if not notice else "notice",
                             target)

    def _irc_NOTICE(self, message: Message) -> None:
        self._irc_PRIVMSG(message, notice=True)

    def _irc_NAMES(self, message: Message) -> None:
        target = message.param(0) or (channel(self.room) if self.room else "*")
        if room_of(target).lower() in self.rooms:
            self._names(room_of(target).lower())
        else:
            self.reply(n.RPL_ENDOFNAMES, target, "End of /NAMES list")

    def _names(self, room: str) -> None:
        target = channel(room)
        members = self.rooms.get(room, [])
        head = n.reply(self.server, self.nick, n.RPL_NAMREPLY, "=", target, "")
        self.send(*fit_lines(Message(verb=head.verb, params=head.params[:-1], source=self.server),
                             " ".join(members)) if members else [])
        self.reply(n.RPL_ENDOFNAMES, target, "End of /NAMES list")

    def _irc_LIST(self, message: Message) -> None:
        self.command("list", what="list")

    def _irc_TOPIC(self, message: Message) -> None:
        target = message.param(0)
        if not target:
            self.reply(n.ERR_NEEDMOREPARAMS, "TOPIC", "Not enough parameters")
        elif room_of(target).lower() not in self.rooms:
            self.reply(n.ERR_NOTONCHANNEL, target, "You're not on that channel")
        elif len(message.params) > 1:
            self.core(Command, "topic-set", target, name="topic",
                      args=message.params[1] or "-", room=room_of(target).lower())
        else:
            self.core(Command, "topic", target, name="topic", args="",
                      room=room_of(target).lower())

    def _irc_KICK(self, message: Message) -> None:
        if len(message.params) < 2:
            self.reply(n.ERR_NEEDMOREPARAMS, "KICK", "Not enough parameters")
        elif room_of(message.params[0]).lower() not in self.rooms:
            self.reply(n.ERR_NOTONCHANNEL, message.params[0], "You're not on that channel")
        else:
            self.core(Command, "play", "", name="kick", args=" ".join(message.params[1:]),
                      room=room_of(message.params[0]).lower())

    def _irc_INVITE(self, message: Message) -> None:
        if not message.params:
            self.reply(n.ERR_NEEDMOREPARAMS, "INVITE", "Not enough parameters")
        elif len(message.params) > 1 and room_of(message.params[1]).lower() in self.rooms:
            self.core(Command, "play", "", name="invite", args=message.params[0],
                      room=room_of(message.params[1]).lower())
        else:
            self.command("invite", message.params[0], "play")

    def _irc_WHO(self, message: Message) -> None:
        target = message.param(0, "*")
        room = room_of(target).lower()
        self.command("who", room if room in self.rooms else "", what="who", detail=target)

    def _irc_WHOIS(self, message: Message) -> None:
        target = message.params[-1] if message.params else ""
        if not target:
            self.reply(n.ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        self.command("whois", target, what="whois", detail=target)

    def _irc_MODE(self, message: Message) -> None:
        target = message.param(0)
        if not target:
            self.reply(n.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
        elif target.startswith("#"):
            if len(message.params) == 1:
                self._channel_modes(target)
            elif message.params[1].lstrip("+") in ("b", "e", "I"):
                end = {"b": "368", "e": "349", "I": "347"}[message.params[1].lstrip("+")]
                self.reply(end, target, "End of list")
            elif message.params[1] in ("+i", "-i") and room_of(target).lower() in self.rooms:
                self.core(Command, "play", "", name="mode", args=message.params[1],
                          room=room_of(target).lower())
            else:
                self.reply(n.ERR_CHANOPRIVSNEEDED, target, "Room modes cannot be changed here")
        elif target.casefold() != self.nick.casefold():
            self.reply(n.ERR_USERSDONTMATCH, "Can't change mode for other users")
        elif len(message.params) == 1:
            self.reply(n.RPL_UMODEIS, "+i")
        elif message.params[1] in ("+i", "-i", "i"):
            self.send(Message(verb="MODE", params=(self.nick, "+i"),
                              source=mask(self.nick, self.host)))
        else:
            self.reply(n.ERR_UMODEUNKNOWNFLAG, "Only +i is a user mode here")

    def _channel_modes(self, target: str) -> None:
        """324: the room's real modes. +n and +t always hold (only members speak, only ops
        set the topic); +i if invite-only. Slow mode has no IRC letter: a notice says it."""
        rules = self.rules(room_of(target).lower())
        self.reply(n.RPL_CHANNELMODEIS, target, "+" + ("i" if rules.get("invite_only") else "")
                   + "nt")
        if rules.get("slow"):
            self.notice(f"{target} is in slow mode: {rules['slow']} s between one person's "
                        "messages (ops are exempt)")

    def _irc_MOTD(self, message: Message) -> None:
        self.send(*n.motd(self.info, self.nick))

    def _irc_LUSERS(self, message: Message) -> None:
        self.send(*n.lusers(self.info, self.nick, *self.counts()))

    def _irc_VERSION(self, message: Message) -> None:
        self.reply("351", self.info.version, self.server, "play")

    def _irc_WHOWAS(self, message: Message) -> None:
        target = message.param(0)
        if not target:
            self.reply(n.ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        self.reply(n.ERR_WASNOSUCHNICK, target, "There was no such nickname (no WHOWAS here:"
                   " /WHOIS an account, or /quote HISTORY)")
        self.reply(n.RPL_ENDOFWHOWAS, target, "End of WHOWAS")

    def _irc_AWAY(self, message: Message) -> None:
        self.command("away", message.param(0), "away", "on" if message.param(0) else "")

    # ------------------------------------------------------------ from the core

    def event(self, event: Any) -> None:
        """An event for this session alone (room-wide ones come through `shared`)."""
        if not self.registered and not isinstance(event, (Ok, Error, Bye, Welcome)):
            self._early.append(event)
            return
        handler = getattr(self, "_on_" + type(event).__name__, None)
        if handler is not None:
            handler(event)
            return
        shared = shared_lines(event, self.host, self.server, self.colour)
        if shared is not None:
            self.shared(event, *shared)

    def shared(self, event: Any, data: bytes, exclude: str | None, paced: bool) -> None:
        """A room event already encoded for every IRC member (see shared_lines)."""
        if not self.registered:
            self._early.append(event)
            return
        if exclude is not None and self.account is not None \
                and exclude.casefold() == self.account.casefold():
            return
        kind = type(event)
        if kind is Joined or kind is Left:
            self._member(event.room, event.user, kind is Joined)
        elif kind is Presence:
            for change in event.changes:
                if change.get("op") in ("joined", "left"):
                    self._member(event.room, str(change.get("user")), change["op"] == "joined")
        self.out.append(Out(data, paced))

    def _member(self, room: str, user: str, present: bool) -> None:
        members = self.rooms.get(room)
        if members is None:
            return
        if present and user not in members:
            members.append(user)
        elif not present and user in members:
            members.remove(user)

    def _on_Welcome(self, event: Welcome) -> None:
        pass

    def _on_RoomView(self, event: RoomView) -> None:
        room = self.room = event.room.name
        seen: dict[str, None] = {}
        for session in event.room.members.values():
            if session.user:
                seen.setdefault(session.user)
        self.rooms[room] = list(seen)
        self.send(Message(verb="JOIN", params=(channel(room),),
                          source=mask(self.nick, self.host)))
        # 332 (if there is a topic; no 331 on a join), then NAMES: the order clients expect.
        self.core(Command, "join-topic", room, name="topic", args="", room=room)

    def _on_Left(self, event: Left) -> None:
        """We left a channel (PART): the core tells only us; others hear it shared."""
        if event.room in self.rooms and self.account is not None \
                and event.user.casefold() == self.account.casefold():
            del self.rooms[event.room]
            if self.room == event.room:
                self.room = next(reversed(self.rooms), None)
            self.send(Message(verb="PART", params=part_params(event.room, event.reason),
                              source=mask(self.nick, self.host)))
            return
        shared = shared_lines(event, self.host, self.server, self.colour)
        if shared is not None:
            self.shared(event, *shared)

    def _on_Ok(self, event: Ok) -> None:
        what, detail = self._pending.pop(event.id, ("", "")) if event.id is not None else ("", "")
        if what in ("login", "sasl"):
            self.account = (event.data or {}).get("user") or detail
            self.account_key = self.account.casefold()
            if what == "sasl":
                self._registering(self.registration.sasl_done(self.account, True))
            else:
                self._welcome()
        elif what in ("say", "notice", "join", "quit", "play-quiet"):
            pass
        elif what == "list":
            self._list((event.data or {}).get("rooms", {}), (event.data or {}).get("rules", {}))
        elif what == "join-topic":
            prefix = f"topic of {channel(detail)}: "
            if event.text and event.text.lower().startswith(prefix.lower()):
                self.reply(n.RPL_TOPIC, channel(detail), event.text[len(prefix):])
            self._names(detail)
        elif what == "topic":
            prefix = f"topic of {detail}: "
            if event.text and event.text.lower().startswith(prefix.lower()):
                self.reply(n.RPL_TOPIC, detail, event.text[len(prefix):])
            else:
                self.reply(n.RPL_NOTOPIC, detail, "No topic is set")
        elif what == "topic-set":
            pass  # the room hears of it from the core
        elif what == "away":
            if detail:
                self.reply("306", "You have been marked as being away")
            else:
                self.reply("305", "You are no longer marked as being away")
        elif what == "who":
            self._who(detail, (event.data or {}).get("members", []))
        elif what == "whois":
            self._whois(detail, (event.data or {}).get("whois") or {})
        elif what in ("msg", "notice"):
            if not (event.data or {}).get("delivered", True) and what == "msg":
                self.notice(f"{detail} is offline; your message waits for their next login")
            if what == "msg":
                for line in event.lines or []:  # "bob is away: lunch" -> 301, as servers say it
                    head, _, away = line.partition(" is away: ")
                    if away:
                        self.reply(n.RPL_AWAY, head, away)
                    else:
                        self.notice(line)
                self.plain_pm_note(detail)
        else:
            self._say_ok(event)

    def _say_ok(self, event: Ok) -> None:
        """A play command's answer (/game, /help, /stats ...), as notices from the server."""
        for text in [event.text or "", *(event.lines or [])]:
            if text:
                self.notice(text, paced=bool(event.lines))

    def _on_Error(self, event: Error) -> None:
        what, detail = self._pending.pop(event.id, ("", "")) if event.id is not None else ("", "")
        if what == "login":
            # A name no account may take (reserved, a guest's, a look-alike of one): 432.
            code = n.ERR_ERRONEUSNICKNAME if event.code in ("bad_name", "lookalike") \
                else n.ERR_PASSWDMISMATCH
            params = (self.nick, event.text) if code == n.ERR_ERRONEUSNICKNAME else (event.text,)
            self.reply(code, *params)
            self.quit(event.text)
        elif what == "sasl":
            self._registering(self.registration.sasl_done(detail, False, event.text))
        elif what == "msg" and event.code in ("no_such_user", "bad_name"):
            self.reply(n.ERR_NOSUCHNICK, detail, event.text)
        elif what == "notice":
            pass  # NOTICE is never answered with an error
        elif what == "join":
            self.reply(n.ERR_NOSUCHCHANNEL if event.code in ("bad_name",) else
                       n.ERR_BANNEDFROMCHAN if event.code == "banned" else
                       n.ERR_TOOMANYCHANNELS if event.code == "too_many_rooms" else
                       n.ERR_NOSUCHCHANNEL, detail, event.text)
        elif what == "whois":
            self.reply(n.ERR_NOSUCHNICK, detail, event.text)
            self.reply(n.RPL_ENDOFWHOIS, detail, "End of /WHOIS list")
        elif what == "topic-set":
            self.reply(n.ERR_CHANOPRIVSNEEDED, detail, event.text)
        elif what == "topic":
            self.reply(n.RPL_NOTOPIC, detail, "No topic is set")
        elif what == "join-topic":
            self._names(detail)
        else:
            self.notice(f"! {event.text}")

    def _list(self, rooms: dict[str, int], rules: dict[str, dict[str, Any]]) -> None:
        self.reply(n.RPL_LISTSTART, "Channel", "Users  Name")
        for name, count in rooms.items():
            topic = str((rules.get(name) or {}).get("topic") or "")
            self.send(n.reply(self.server, self.nick, n.RPL_LIST, channel(name), str(count),
                              topic), paced=len(rooms) > 20)
        self.reply(n.RPL_LISTEND, "End of /LIST")

    def _who(self, mask_: str, members: list[dict[str, str]]) -> None:
        if room_of(mask_).lower() in self.rooms or mask_ == "*":
            for member in members:
                user, nick = member.get("user", ""), member.get("nick", "")
                realname = nick if nick == user else f"{nick} (room nick of {user})"
                where = room_of(mask_).lower() if mask_ != "*" else (self.room or "")
                self.send(n.reply(self.server, self.nick, n.RPL_WHOREPLY, channel(where),
                                  user, self.host, self.server, user,
                                  "G" if member.get("away") else "H", f"0 {realname}"))
        self.reply(n.RPL_ENDOFWHO, mask_, "End of /WHO list")

    def _whois(self, target: str, whois: dict[str, Any]) -> None:
        """311 312 319 (every channel), 320 for a play user's per-room nicks, 301, 330, 318."""
        found = str(whois.get("user") or "")
        if not found or not whois.get("online"):
            self.reply(n.ERR_NOSUCHNICK, target, "No such nick (not online)" if found
                       else "No such nick")
        else:
            nicks: dict[str, str] = whois.get("nicks") or {}
            self.reply(n.RPL_WHOISUSER, found, found, self.host, "*", found)
            if nicks:
                self.send(*n.replies(self.server, self.nick, n.RPL_WHOISCHANNELS, (found,),
                                     " ".join(channel(room) for room in nicks)))
            self.reply(n.RPL_WHOISSERVER, found, self.server, self.info.network)
            renamed = [f"{nick} in {channel(room)}" for room, nick in nicks.items()
                       if nick != found]
            if renamed:  # play nicks are per room; on IRC the account name is the nick
                self.send(*n.replies(self.server, self.nick, n.RPL_WHOISSPECIAL, (found,),
                                     "goes by " + ", ".join(renamed)))
            if whois.get("away"):
                self.reply(n.RPL_AWAY, found, str(whois["away"]))
            self.reply(n.RPL_WHOISACCOUNT, found, found, "is logged in as")
        self.reply(n.RPL_ENDOFWHOIS, target, "End of /WHOIS list")

    def plain_pm_note(self, peer: str) -> None:
        """Once per peer: PMs over IRC are not end-to-end encrypted (issue 11's marking)."""
        if peer.casefold() in self._plain_told:
            return
        self._plain_told.add(peer.casefold())
        self.notice(f"private messages with {peer} are not end-to-end encrypted here: an IRC"
                    " client holds no device keys")

    def _on_PrivateMessage(self, event: PrivateMessage) -> None:
        if event.e2e is not None:  # sealed for the recipient's devices: nothing to show here
            when = f" at {clock(event.ts)} while you were away" if event.queued else ""
            self.notice(f"{event.sender} sent you an end-to-end encrypted private message"
                        f"{when}. An IRC client cannot decrypt it: read it in the play client"
                        " (play join). Messages you send from IRC are not encrypted.")
            return
        self._private(event)
        self.plain_pm_note(event.sender)

    def _private(self, event: PrivateMessage) -> None:
        text = event.text
        if event.queued:
            text = f"[sent {clock(event.ts)} while you were away] {text}"
        self.send(*fit_lines(Message(verb="PRIVMSG", params=(self.nick,),
                                     source=mask(event.sender, self.host)), text))

    def _on_Broadcast(self, event: Broadcast) -> None:
        self.send(*fit_lines(Message(verb="NOTICE", params=(self.nick,),
                                     source=mask(event.sender, self.host)),
                             f"[to everyone] {event.text}"))

    def _on_Notice(self, event: Notice) -> None:
        shared = shared_lines(event, self.host, self.server, self.colour)
        if shared is not None:
            self.shared(event, *shared)
        else:
            self.notice(event.text)

    def _on_HistoryPage(self, event: HistoryPage) -> None:
        target = channel(event.room) if event.kind == "scrollback" and event.room else self.nick
        for entry in event.entries:
            sender, text = entry.get("sender", "?"), entry.get("text", "")
            ts = float(entry.get("ts") or 0)
            kind = entry.get("type")
            where = "" if kind == "ROOM" and event.kind == "scrollback" else \
                f" #{entry.get('receiver')}" if kind == "ROOM" else \
                f" -> {entry.get('receiver')}" if kind == "PM" else " (to everyone)"
            self.notice(f"[{clock(ts)}]{where} <{sender}> {text}", target, paced=True)
        if event.kind == "history" and event.last and not event.entries:
            self.notice("no history yet")

    def _on_Bye(self, event: Bye) -> None:
        self.quit(event.reason)

    def _on_GameClosed(self, event: Any) -> None:
        pass
