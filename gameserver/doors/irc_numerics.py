"""IRC numeric replies by name, and the bursts a server sends (welcome, ISUPPORT, LUSERS, MOTD)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gameserver.doors.irc_wire import Message, fit_lines

# modern.ircdocs.horse "Numerics"; the names are the ones every client and server use.
RPL_WELCOME = "001"
RPL_YOURHOST = "002"
RPL_CREATED = "003"
RPL_MYINFO = "004"
RPL_ISUPPORT = "005"
RPL_UMODEIS = "221"
RPL_LUSERCLIENT = "251"
RPL_LUSEROP = "252"
RPL_LUSERUNKNOWN = "253"
RPL_LUSERCHANNELS = "254"
RPL_LUSERME = "255"
RPL_LOCALUSERS = "265"
RPL_GLOBALUSERS = "266"
RPL_AWAY = "301"
RPL_WHOISUSER = "311"
RPL_WHOISSERVER = "312"
RPL_ENDOFWHO = "315"
RPL_WHOISIDLE = "317"
RPL_ENDOFWHOIS = "318"
RPL_WHOISCHANNELS = "319"
RPL_WHOISSPECIAL = "320"
RPL_LISTSTART = "321"
RPL_LIST = "322"
RPL_LISTEND = "323"
RPL_CHANNELMODEIS = "324"
RPL_CREATIONTIME = "329"
RPL_WHOISACCOUNT = "330"
RPL_NOTOPIC = "331"
RPL_TOPIC = "332"
RPL_WHOREPLY = "352"
RPL_NAMREPLY = "353"
RPL_ENDOFNAMES = "366"
RPL_ENDOFWHOWAS = "369"
RPL_MOTD = "372"
RPL_MOTDSTART = "375"
RPL_ENDOFMOTD = "376"
ERR_NOSUCHNICK = "401"
ERR_NOSUCHSERVER = "402"
ERR_NOSUCHCHANNEL = "403"
ERR_WASNOSUCHNICK = "406"
ERR_CANNOTSENDTOCHAN = "404"
ERR_TOOMANYCHANNELS = "405"
ERR_NORECIPIENT = "411"
ERR_NOTEXTTOSEND = "412"
ERR_INPUTTOOLONG = "417"
ERR_UNKNOWNCOMMAND = "421"
ERR_NOMOTD = "422"
ERR_NONICKNAMEGIVEN = "431"
ERR_ERRONEUSNICKNAME = "432"
ERR_NICKNAMEINUSE = "433"
ERR_USERNOTINCHANNEL = "441"
ERR_NOTONCHANNEL = "442"
ERR_NOTREGISTERED = "451"
ERR_NEEDMOREPARAMS = "461"
ERR_ALREADYREGISTERED = "462"
ERR_PASSWDMISMATCH = "464"
ERR_YOUREBANNEDCREEP = "465"
ERR_CHANNELISFULL = "471"
ERR_UNKNOWNMODE = "472"
ERR_INVITEONLYCHAN = "473"
ERR_BANNEDFROMCHAN = "474"
ERR_CHANOPRIVSNEEDED = "482"
ERR_UMODEUNKNOWNFLAG = "501"
ERR_USERSDONTMATCH = "502"
RPL_LOGGEDIN = "900"
RPL_SASLSUCCESS = "903"
ERR_SASLFAIL = "904"
ERR_SASLTOOLONG = "905"
ERR_SASLABORTED = "906"
ERR_SASLALREADY = "907"
RPL_SASLMECHS = "908"

ISUPPORT_PER_LINE = 13  # tokens in one 005 line, as servers send them


def reply(server: str, target: str, code: str, *params: str) -> Message:
    """A numeric from `server` to `target` (the client's nick, or "*" before it has one)."""
    return Message(source=server, verb=code, params=(target or "*", *params))


def replies(server: str, target: str, code: str, params: Iterable[str], text: str) -> list[Message]:
    """A numeric whose last parameter is `text`, split over as many lines as it needs."""
    return fit_lines(Message(source=server, verb=code, params=(target or "*", *params)), text)


@dataclass(frozen=True, kw_only=True)
class ServerInfo:
    """What the welcome burst says about the server."""

    name: str
    network: str
    version: str
    created: str  # a date as text, e.g. "Tue Dec 1 2026 at 14:00:00 UTC"
    motd: tuple[str, ...] = ()
    user_modes: str = "i"
    channel_modes: str = "int"


def isupport_tokens(tokens: Mapping[str, str | None]) -> list[str]:
    """`KEY=value`, or `KEY` alone where the value is None or empty."""
    return [key if not value else f"{key}={value}" for key, value in tokens.items()]


def welcome_burst(info: ServerInfo, nick: str, isupport: Mapping[str, str | None],
                  users: int, channels: int, most: int | None = None) -> list[Message]:
    """001-005, LUSERS and MOTD (or 422): what a client waits for after registering."""
    s = info.name
    out = [
        reply(s, nick, RPL_WELCOME, f"Welcome to the {info.network} IRC Network, {nick}"),
        reply(s, nick, RPL_YOURHOST, f"Your host is {s}, running version {info.version}"),
        reply(s, nick, RPL_CREATED, f"This server was created {info.created}"),
        reply(s, nick, RPL_MYINFO, s, info.version, info.user_modes, info.channel_modes),
    ]
    tokens = isupport_tokens(isupport)
    for start in range(0, len(tokens), ISUPPORT_PER_LINE):
        out.append(reply(s, nick, RPL_ISUPPORT, *tokens[start:start + ISUPPORT_PER_LINE],
                         "are supported by this server"))
    out += lusers(info, nick, users, channels, most)
    out += motd(info, nick)
    return out


def lusers(info: ServerInfo, nick: str, users: int, channels: int,
           most: int | None = None) -> list[Message]:
    """251-255 and 265/266, whose max is the most users online at once since start."""
    s = info.name
    most = users if most is None else max(most, users)
    return [
        reply(s, nick, RPL_LUSERCLIENT, f"There are {users} users and 0 invisible on 1 servers"),
        reply(s, nick, RPL_LUSEROP, "0", "operator(s) online"),
        reply(s, nick, RPL_LUSERCHANNELS, str(channels), "channels formed"),
        reply(s, nick, RPL_LUSERME, f"I have {users} clients and 0 servers"),
        reply(s, nick, RPL_LOCALUSERS, str(users), str(most),
              f"Current local users {users}, max {most}"),
        reply(s, nick, RPL_GLOBALUSERS, str(users), str(most),
              f"Current global users {users}, max {most}"),
    ]


def motd(info: ServerInfo, nick: str) -> list[Message]:
    s = info.name
    if not info.motd:
        return [reply(s, nick, ERR_NOMOTD, "MOTD File is missing")]
    out = [reply(s, nick, RPL_MOTDSTART, f"- {s} Message of the day - ")]
    for line in info.motd:
        out += replies(s, nick, RPL_MOTD, (), f"- {line}")
    out.append(reply(s, nick, RPL_ENDOFMOTD, "End of /MOTD command."))
    return out
