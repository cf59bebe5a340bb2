"""IRC connection registration, sans-IO: CAP, PASS, NICK, USER and SASL PLAIN, until welcome."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from gameserver.doors import irc_numerics as n
from gameserver.doors.irc_wire import Message

SASL_CHUNK = 400  # bytes of base64 in one AUTHENTICATE line
SASL_MAX = 4 * 1024  # bytes of base64 in one whole SASL PLAIN payload
# What a client may do before it is registered; anything else gets 451.
PRE_REGISTRATION = frozenset({"CAP", "PASS", "NICK", "USER", "AUTHENTICATE", "PING", "PONG",
                              "QUIT"})
_NICK_FORBIDDEN = frozenset(" ,*?!@:\0\r\n")


@dataclass(frozen=True)
class CheckPassword:
    """The door should check `password` for `account` (off the loop) and call `sasl_done`."""

    account: str
    password: str


@dataclass(frozen=True)
class Registered:
    """Registration is complete: log in as `account` with `password` (None: SASL did it)."""

    nick: str
    user: str
    realname: str
    account: str
    password: str | None
    caps: frozenset[str]


@dataclass(frozen=True)
class Quit:
    """The client asked to leave before registering."""

    reason: str


Output = Message | CheckPassword | Registered | Quit


@dataclass
class Registration:
    """The state of one connection until it registers.

    `receive` takes each line the client sends and returns what to do: lines to send,
    a password to check (SASL), the finished registration, or the client's quit. The
    nick a client registers with is its account name (the core checks it); SASL PLAIN
    may name the account instead, and then the nick must be the same.
    """

    server: str
    caps_offered: dict[str, str] = field(default_factory=lambda: {"sasl": "PLAIN"})
    nick: str | None = None
    user: str | None = None
    realname: str = ""
    password: str | None = None
    caps: set[str] = field(default_factory=set)
    negotiating: bool = False  # between CAP LS/REQ and CAP END
    sasl_account: str | None = None  # set once SASL PLAIN succeeded
    done: bool = False
    _sasl_state: str = ""  # "", "mechanism" (waiting for the payload), "checking"
    _sasl_buffer: str = ""

    @property
    def target(self) -> str:
        return self.nick or "*"

    def _reply(self, code: str, *params: str) -> Message:
        return n.reply(self.server, self.target, code, *params)

    def receive(self, message: Message) -> list[Output]:
        if self.done:
            return []
        command = message.command
        handler = getattr(self, "_on_" + command, None)
        if command not in PRE_REGISTRATION or handler is None:
            return [self._reply(n.ERR_NOTREGISTERED, "You have not registered")]
        out: list[Output] = handler(message)
        return out + self._maybe_done()

    def _maybe_done(self) -> list[Output]:
        if self.done or self.negotiating or self._sasl_state or not (self.nick and self.user):
            return []
        account = self.sasl_account or self.nick
        if self.sasl_account is None and self.password is None:
            self.done = True  # the door sends the 464 and closes
            return [self._reply(n.ERR_PASSWDMISMATCH, "A password is needed: "
                                "connect with PASS or SASL (your nick is your account)"),
                    Quit("no password given")]
        if self.sasl_account is not None and self.sasl_account.casefold() != self.nick.casefold():
            # the nick is the account on this server: take the account's name
            self.nick = self.sasl_account
        self.done = True
        return [Registered(self.nick, self.user, self.realname, account,
                           None if self.sasl_account else self.password, frozenset(self.caps))]

    # ------------------------------------------------------------ commands

    def _on_PING(self, message: Message) -> list[Output]:
        if not message.params:
            return [self._reply(n.ERR_NEEDMOREPARAMS, "PING", "Not enough parameters")]
        return [Message(source=self.server, verb="PONG",
                        params=(self.server, message.params[0]))]

    def _on_PONG(self, message: Message) -> list[Output]:
        return []

    def _on_QUIT(self, message: Message) -> list[Output]:
        self.done = True
        return [Quit(message.param(0, "Client Quit"))]

    def _on_PASS(self, message: Message) -> list[Output]:
        if not message.params:
            return [self._reply(n.ERR_NEEDMOREPARAMS, "PASS", "Not enough parameters")]
        self.password = message.params[0]
        return []

    def _on_NICK(self, message: Message) -> list[Output]:
        if not message.params or not message.params[0]:
            return [self._reply(n.ERR_NONICKNAMEGIVEN, "No nickname given")]
        nick = message.params[0]
        if _NICK_FORBIDDEN & set(nick) or nick[0] in "#&$+~%" or nick[0].isdigit():
            return [self._reply(n.ERR_ERRONEUSNICKNAME, nick, "Erroneous nickname")]
        self.nick = nick
        return []

    def _on_USER(self, message: Message) -> list[Output]:
        if len(message.params) < 4 or not message.params[0]:
            return [self._reply(n.ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")]
        if self.user is not None:
            return [self._reply(n.ERR_ALREADYREGISTERED, "You may not reregister")]
        self.user = message.params[0]
        self.realname = message.params[3]
        return []

    # ------------------------------------------------------------ capabilities

    def cap(self, message: Message) -> list[Output]:
        """CAP after registration: LS, LIST and REQ answered; END changes nothing."""
        return [] if message.param(0).upper() == "END" else self._on_CAP(message)

    def _on_CAP(self, message: Message) -> list[Output]:
        sub = message.param(0).upper()
        if sub == "LS":
            self.negotiating = True
            version = message.param(1)
            values = version.isdigit() and int(version) >= 302  # CAP 302 shows values
            offered = " ".join(f"{key}={value}" if value and values else key
                               for key, value in self.caps_offered.items())
            return [Message(source=self.server, verb="CAP", params=(self.target, "LS", offered))]
        if sub == "LIST":
            return [Message(source=self.server, verb="CAP",
                            params=(self.target, "LIST", " ".join(sorted(self.caps))))]
        if sub == "REQ":
            self.negotiating = True
            wanted = message.param(1).split()
            removing = {w[1:] for w in wanted if w.startswith("-")}
            adding = {w for w in wanted if not w.startswith("-")}
            if not wanted or not (adding | removing) <= set(self.caps_offered):
                return [Message(source=self.server, verb="CAP",
                                params=(self.target, "NAK", message.param(1)))]
            self.caps = (self.caps | adding) - removing
            return [Message(source=self.server, verb="CAP",
                            params=(self.target, "ACK", message.param(1)))]
        if sub == "END":
            self.negotiating = False
            if self._sasl_state == "mechanism":  # an unfinished exchange ends with CAP END
                self._sasl_state, self._sasl_buffer = "", ""
                return [self._reply(n.ERR_SASLABORTED, "SASL authentication aborted")]
            return []
        return [self._reply("410", sub or "*", "Invalid CAP command")]

    # ------------------------------------------------------------ SASL PLAIN

    def _on_AUTHENTICATE(self, message: Message) -> list[Output]:
        if "sasl" not in self.caps:
            return [self._reply(n.ERR_SASLFAIL, "SASL authentication failed: CAP REQ sasl first")]
        if not message.params:
            return [self._reply(n.ERR_NEEDMOREPARAMS, "AUTHENTICATE", "Not enough parameters")]
        data = message.params[0]
        if self.sasl_account is not None:
            return [self._reply(n.ERR_SASLALREADY, "You have already authenticated using SASL")]
        if data == "*":
            was = self._sasl_state
            self._sasl_state, self._sasl_buffer = "", ""
            return [self._reply(n.ERR_SASLABORTED, "SASL authentication aborted")] if was else []
        if self._sasl_state == "checking":
            return []  # a line while the password is being checked: ignored, as servers do
        if self._sasl_state == "":
            if data.upper() != "PLAIN":
                return [self._reply(n.RPL_SASLMECHS, "PLAIN", "are available SASL mechanisms"),
                        self._reply(n.ERR_SASLFAIL, "SASL authentication failed")]
            self._sasl_state = "mechanism"
            return [Message(source=self.server, verb="AUTHENTICATE", params=("+",))]
        if len(data) > SASL_CHUNK:
            return self._sasl_fail(n.ERR_SASLTOOLONG, "SASL message too long")
        if data != "+":
            self._sasl_buffer += data
        if len(self._sasl_buffer) > SASL_MAX:
            return self._sasl_fail(n.ERR_SASLTOOLONG, "SASL message too long")
        if len(data) == SASL_CHUNK:
            return []  # more chunks follow
        credentials = parse_plain(self._sasl_buffer)
        self._sasl_buffer = ""
        if credentials is None:
            return self._sasl_fail(n.ERR_SASLFAIL, "SASL authentication failed: not PLAIN")
        authzid, authcid, password = credentials
        if authzid and authzid.casefold() != authcid.casefold():
            return self._sasl_fail(n.ERR_SASLFAIL,
                                   "SASL authentication failed: you can act only as yourself")
        self._sasl_state = "checking"
        return [CheckPassword(authcid, password)]

    def _sasl_fail(self, code: str, text: str) -> list[Output]:
        self._sasl_state, self._sasl_buffer = "", ""
        return [self._reply(code, text)]

    def sasl_done(self, account: str, ok: bool, reason: str = "") -> list[Output]:
        """The door's answer to CheckPassword: 900 and 903, or 904 with the reason."""
        if self._sasl_state != "checking":
            return []
        self._sasl_state = ""
        if not ok:
            text = "SASL authentication failed" + (f": {reason}" if reason else "")
            return [self._reply(n.ERR_SASLFAIL, text)] + self._maybe_done()
        self.sasl_account = account
        mask = f"{self.nick or account}!{self.user or account}@{self.server}"
        return [self._reply(n.RPL_LOGGEDIN, mask, account, f"You are now logged in as {account}"),
                self._reply(n.RPL_SASLSUCCESS, "SASL authentication successful")] \
            + self._maybe_done()


def parse_plain(payload: str) -> tuple[str, str, str] | None:
    """RFC 4616: base64 of authzid NUL authcid NUL password; None if it is not that."""
    try:
        raw = base64.b64decode(payload, validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    parts = text.split("\0")
    if len(parts) != 3 or not parts[1]:
        return None
    return parts[0], parts[1], parts[2]


def plain_payload(account: str, password: str) -> list[str]:
    """What a client sends for SASL PLAIN: base64 chunks of 400, "+" after an exact multiple."""
    data = base64.b64encode(f"{account}\0{account}\0{password}".encode()).decode()
    chunks = [data[i:i + SASL_CHUNK] for i in range(0, len(data), SASL_CHUNK)] or ["+"]
    if len(chunks[-1]) == SASL_CHUNK:
        chunks.append("+")
    return chunks
