"""One IRC client's translation, sans-IO: the lines an IRC client sends, to the core's messages.

What the core says back is IrcReplies' (irc_replies.py); room-wide lines, encoded once,
are irc_shared.py's.
"""

from __future__ import annotations

from gameserver.doors import irc_numerics as n
from gameserver.doors.irc_replies import IrcReplies
from gameserver.doors.irc_shared import Out, channel, mask, room_of, shared_lines
from gameserver.doors.irc_text import is_ctcp, parse_action, strip_formatting
from gameserver.doors.irc_wire import BadLine, Message
from gameserver.protocol import Command, Say

__all__ = ["IRC_VERBS", "IrcClient", "Out", "shared_lines"]

# IRC verbs answered here; any other verb that names a play command (GAME, ACCEPT,
# RESIGN ...) goes to the core's command table as `/verb params`.
IRC_VERBS = frozenset({
    "PING", "PONG", "QUIT", "JOIN", "PART", "PRIVMSG", "NOTICE", "NAMES", "LIST", "TOPIC",
    "WHO", "WHOIS", "MODE", "NICK", "USER", "PASS", "CAP", "AUTHENTICATE", "MOTD", "LUSERS",
    "VERSION", "TIME", "AWAY", "USERHOST", "ISON", "KICK", "INVITE", "WHOWAS",
})
BANG = "!"  # `!game tictactoe bob` in a channel is the play command /game tictactoe bob


class IrcClient(IrcReplies):
    """The IRC side of one session: `line()` for what the client sends, `event()` for the core's.

    What to write collects in `out`; messages for the core in `to_core`; `close` is
    set (with the reason) when the connection should end after `out` is written.
    """

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
