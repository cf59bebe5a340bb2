"""The core's side of one IRC session: its state, and the core's events and answers as IRC lines."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from gameserver.core.events import RoomView
from gameserver.doors import irc_numerics as n
from gameserver.doors.irc_register import CheckPassword, Quit, Registered, Registration
from gameserver.doors.irc_shared import (
    Out,
    channel,
    clock,
    lines_of,
    mask,
    part_params,
    room_of,
    shared_lines,
)
from gameserver.doors.irc_wire import Message, fit_lines
from gameserver.protocol import (
    PROTOCOL_VERSION,
    Broadcast,
    Bye,
    Command,
    Error,
    HistoryPage,
    Joined,
    Left,
    Login,
    Notice,
    Ok,
    Presence,
    PrivateMessage,
    Welcome,
)
from gameserver.protocol import Hello as PlayHello
from gameserver.protocol import Message as PlayMessage


class IrcReplies:
    """One IRC session's state, and `event()`/`shared()` for what the core tells it.

    What to write collects in `out`; messages for the core in `to_core`; `close` is
    set (with the reason) when the connection should end after `out` is written.
    IrcClient (irc_client.py) adds `line()`, the verbs the IRC client sends.
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
            self.out.append(Out(lines_of(list(messages)), paced))

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

    def _names(self, room: str) -> None:
        target = channel(room)
        members = self.rooms.get(room, [])
        head = n.reply(self.server, self.nick, n.RPL_NAMREPLY, "=", target, "")
        self.send(*fit_lines(Message(verb=head.verb, params=head.params[:-1], source=self.server),
                             " ".join(members)) if members else [])
        self.reply(n.RPL_ENDOFNAMES, target, "End of /NAMES list")

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
            if kind in ("ROOM", "GAME"):  # a room's line or a game's: that room's
                where = "" if event.kind == "scrollback" else f" #{entry.get('receiver')}"
            elif kind in ("PM", "EPM"):
                where = f" -> {entry.get('receiver')}"
            else:  # a broadcast
                where = " (to everyone)"
            self.notice(f"[{clock(ts)}]{where} <{sender}> {text}", target, paced=True)
        if event.kind == "history" and event.last and not event.entries:
            self.notice("no history yet")

    def _on_Bye(self, event: Bye) -> None:
        self.quit(event.reason)

    def _on_GameClosed(self, event: Any) -> None:
        pass
