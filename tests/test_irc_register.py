"""IRC registration without sockets: PASS, SASL PLAIN, CAP negotiation, numerics."""

from __future__ import annotations

import base64

import pytest

from gameserver.doors import irc_numerics as n
from gameserver.doors.irc_register import (
    SASL_CHUNK,
    CheckPassword,
    Quit,
    Registered,
    Registration,
    parse_plain,
    plain_payload,
)
from gameserver.doors.irc_wire import Message, parse_line


def feed(reg: Registration, *lines: str) -> list:
    out: list = []
    for line in lines:
        out += reg.receive(parse_line(line))
    return out


def numerics(out: list) -> list[str]:
    return [item.verb for item in out if isinstance(item, Message)]


def test_pass_nick_user_registers_with_the_nick_as_account() -> None:
    reg = Registration("play.test")
    out = feed(reg, "PASS :s3cret pass", "NICK alice", "USER al 0 * :Alice A")
    assert out == [Registered("alice", "al", "Alice A", "alice", "s3cret pass", frozenset())]
    assert reg.done and feed(reg, "NICK bob") == []


@pytest.mark.parametrize("order", [
    ("NICK alice", "USER al 0 * :A", "PASS pw"),
    ("USER al 0 * :A", "PASS pw", "NICK alice"),
])
def test_pass_must_come_before_registration_completes(order: tuple[str, ...]) -> None:
    out = feed(Registration("s"), *order)
    if order[-1].startswith("PASS"):
        assert numerics(out) == [n.ERR_PASSWDMISMATCH] and isinstance(out[-1], Quit)
    else:
        assert isinstance(out[-1], Registered) and out[-1].password == "pw"


def test_no_password_is_refused_with_464_and_a_sentence() -> None:
    out = feed(Registration("s"), "NICK alice", "USER al 0 * :A")
    assert out[0].verb == n.ERR_PASSWDMISMATCH and "PASS or SASL" in out[0].params[-1]
    assert out[1] == Quit("no password given")


def test_commands_before_registration_get_451_and_ping_is_answered() -> None:
    reg = Registration("play.test")
    out = feed(reg, "JOIN #lobby", "PRIVMSG #lobby :hi", "PING :tok")
    assert numerics(out) == [n.ERR_NOTREGISTERED, n.ERR_NOTREGISTERED, "PONG"]
    assert out[0].params == ("*", "You have not registered")
    assert out[2].params == ("play.test", "tok")


@pytest.mark.parametrize(("line", "code"), [
    ("NICK", n.ERR_NONICKNAMEGIVEN), ("NICK :", n.ERR_NONICKNAMEGIVEN),
    ("NICK #chan", n.ERR_ERRONEUSNICKNAME), ("NICK 9lives", n.ERR_ERRONEUSNICKNAME),
    ("NICK a,b", n.ERR_ERRONEUSNICKNAME), ("NICK a!b", n.ERR_ERRONEUSNICKNAME),
    ("USER a 0 *", n.ERR_NEEDMOREPARAMS), ("PASS", n.ERR_NEEDMOREPARAMS),
    ("PING", n.ERR_NEEDMOREPARAMS), ("CAP FOO", "410"),
])
def test_bad_registration_lines_get_the_standard_numerics(line: str, code: str) -> None:
    out = feed(Registration("s"), line)
    assert numerics(out) == [code]
    assert out[0].params[-1]  # a sentence for the user


def test_user_twice_is_462() -> None:
    reg = Registration("s")
    assert numerics(feed(reg, "USER a 0 * :A", "USER b 0 * :B")) == [n.ERR_ALREADYREGISTERED]


def test_quit_before_registering() -> None:
    assert feed(Registration("s"), "QUIT :bye") == [Quit("bye")]


def test_cap_ls_holds_registration_until_cap_end() -> None:
    reg = Registration("s")
    out = feed(reg, "CAP LS 302", "NICK alice", "PASS pw", "USER al 0 * :A")
    assert out == [Message(source="s", verb="CAP", params=("*", "LS", "sasl=PLAIN"))]
    out = feed(reg, "CAP END")
    assert isinstance(out[-1], Registered)
    assert feed(Registration("s"), "CAP LS")[0].params[-1] == "sasl"


def test_cap_req_acks_known_and_naks_unknown_caps() -> None:
    reg = Registration("s")
    out = feed(reg, "CAP REQ :sasl", "CAP REQ :sasl multi-prefix", "CAP LIST")
    assert [m.params[1:] for m in out] == [("ACK", "sasl"), ("NAK", "sasl multi-prefix"),
                                           ("LIST", "sasl")]
    assert feed(reg, "CAP REQ :-sasl", "CAP LIST")[1].params[-1] == ""


def sasl_login(reg: Registration, account: str, password: str) -> list:
    out = feed(reg, "CAP LS 302", f"NICK {account}", "USER u 0 * :R", "CAP REQ :sasl",
               "AUTHENTICATE PLAIN")
    for chunk in plain_payload(account, password):
        out += feed(reg, f"AUTHENTICATE {chunk}")
    return out


def test_sasl_plain_checks_the_password_then_logs_in() -> None:
    reg = Registration("play.test")
    out = sasl_login(reg, "alice", "pw")
    assert ("AUTHENTICATE", ("+",)) in [(m.verb, m.params) for m in out if isinstance(m, Message)]
    assert out[-1] == CheckPassword("alice", "pw")
    assert feed(reg, "CAP END") == []  # still checking: registration waits
    done = reg.sasl_done("alice", True)
    assert numerics(done) == [n.RPL_LOGGEDIN, n.RPL_SASLSUCCESS]
    assert done[0].params[1:3] == ("alice!u@play.test", "alice")
    assert done[-1] == Registered("alice", "u", "R", "alice", None, frozenset({"sasl"}))


def test_sasl_failure_is_904_and_the_client_may_fall_back_to_pass() -> None:
    reg = Registration("s")
    sasl_login(reg, "alice", "wrong")
    out = reg.sasl_done("alice", False, "wrong password")
    assert numerics(out) == [n.ERR_SASLFAIL] and "wrong password" in out[0].params[-1]
    out = feed(reg, "PASS right", "CAP END")
    assert isinstance(out[-1], Registered) and out[-1].password == "right"


def test_sasl_account_is_the_nick() -> None:
    reg = Registration("s")
    out = feed(reg, "CAP REQ sasl", "NICK someone", "USER u 0 * :R", "AUTHENTICATE PLAIN",
               "AUTHENTICATE " + plain_payload("alice", "pw")[0])
    assert out[-1] == CheckPassword("alice", "pw")
    done = reg.sasl_done("alice", True) + feed(reg, "CAP END")
    assert done[-1].nick == "alice" and done[-1].account == "alice"


def test_sasl_long_password_in_chunks_and_exact_multiple_ends_with_plus() -> None:
    password = "p" * (SASL_CHUNK * 3 // 4 * 2 - len("bob\0bob\0"))  # exactly 800 base64 chars
    chunks = plain_payload("bob", password)
    assert [len(c) for c in chunks] == [400, 400, 1] and chunks[-1] == "+"
    reg = Registration("s")
    assert sasl_login(reg, "bob", password)[-1] == CheckPassword("bob", password)


def test_sasl_refusals() -> None:
    reg = Registration("s")
    assert numerics(feed(reg, "AUTHENTICATE PLAIN")) == [n.ERR_SASLFAIL]  # no CAP REQ
    feed(reg, "CAP REQ sasl")
    assert numerics(feed(reg, "AUTHENTICATE EXTERNAL")) == [n.RPL_SASLMECHS, n.ERR_SASLFAIL]
    feed(reg, "AUTHENTICATE PLAIN")
    assert numerics(feed(reg, "AUTHENTICATE *")) == [n.ERR_SASLABORTED]
    feed(reg, "AUTHENTICATE PLAIN")
    assert numerics(feed(reg, "AUTHENTICATE " + "A" * 401)) == [n.ERR_SASLTOOLONG]
    feed(reg, "AUTHENTICATE PLAIN")
    assert numerics(feed(reg, "AUTHENTICATE !!notbase64")) == [n.ERR_SASLFAIL]
    feed(reg, "AUTHENTICATE PLAIN")
    other = base64.b64encode(b"root\0alice\0pw").decode()
    out = feed(reg, f"AUTHENTICATE {other}")
    assert numerics(out) == [n.ERR_SASLFAIL] and "only as yourself" in out[0].params[-1]
    feed(reg, "AUTHENTICATE PLAIN")
    out = []
    for _ in range(12):
        out += feed(reg, "AUTHENTICATE " + "A" * 400)
    assert n.ERR_SASLTOOLONG in numerics(out)


def test_parse_plain() -> None:
    assert parse_plain(base64.b64encode(b"\0al\0p\xc3\xa9").decode()) == ("", "al", "pé")
    assert parse_plain(base64.b64encode(b"al\0pw").decode()) is None
    assert parse_plain(base64.b64encode(b"\0\0pw").decode()) is None
    assert parse_plain(base64.b64encode(b"\0a\0\xff").decode()) is None


# ---------------------------------------------------------------- the welcome burst


def test_welcome_burst_has_001_to_005_lusers_and_motd() -> None:
    info = n.ServerInfo(name="play.test", network="play", version="play-0.1",
                        created="today", motd=("Welcome!", "x " * 400))
    isupport = {f"TOKEN{i}": str(i) for i in range(20)} | {"CHANTYPES": "#", "SAFELIST": None}
    out = n.welcome_burst(info, "alice", isupport, users=3, channels=2)
    codes = [m.verb for m in out]
    assert codes[:5] == ["001", "002", "003", "004", "005"]
    assert codes.count("005") == 2
    for code in ("251", "254", "255", "375", "372", "376"):
        assert code in codes
    assert all(m.params[0] == "alice" for m in out)
    fives = [m for m in out if m.verb == "005"]
    assert all(len(m.params) <= 15 and m.params[-1] == "are supported by this server"
               for m in fives)
    assert "SAFELIST" in fives[-1].params and "CHANTYPES=#" in fives[-1].params
    assert all(len(m.to_bytes()) <= 512 for m in out)  # the long MOTD line was split
    assert codes.count("372") > 2
    bare = n.ServerInfo(name="s", network="play", version="v", created="now")
    assert n.motd(bare, "a")[0].verb == n.ERR_NOMOTD
