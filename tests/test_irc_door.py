"""The IRC door end to end: real sockets, the `irc` library's client, play clients beside it."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import logged_in, run
from ircclients import IrcLibClient, RawIrc, irc_server, irc_user

from gameserver.doors.irc_register import plain_payload
from gameserver.doors.irc_wire import MAX_LINE

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------- registration


def test_pass_registers_a_new_account_and_lands_in_lobby(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path, motd=("Be nice.",)) as (_server, door):
            client = await IrcLibClient.connect(door.port, "alice", password="s3cret")
            welcome = await client.welcome()
            assert welcome.target == "alice" and "Welcome" in welcome.arguments[0]
            tokens = dict(a.partition("=")[::2] for a in (await client.expect(
                "featurelist")).arguments[:-1])
            tokens.update(a.partition("=")[::2] for a in (await client.expect(
                "featurelist")).arguments[:-1])
            assert tokens["CHANTYPES"] == "#" and tokens["NETWORK"] == "play"
            assert tokens["CASEMAPPING"] == "ascii" and tokens["NICKLEN"] == "20"
            assert tokens["CHANNELLEN"] == "33" and tokens["TOPICLEN"] == "300"
            assert tokens["CHANMODES"] == ",,,int" and "CHANLIMIT" in tokens
            await client.expect("luserclient")
            assert "Be nice." in (await client.expect("motd")).arguments[0]
            await client.expect("endofmotd")
            await client.expect("join", lambda e: e.target == "#lobby")
            names = await client.expect("namreply")
            assert "alice" in names.arguments[-1].split()
            await client.expect("endofnames")
            client.close()
            # the account now exists: the same password logs in, another is refused
            again = await IrcLibClient.connect(door.port, "alice", password="s3cret")
            await again.welcome()
            again.close()
            wrong = await IrcLibClient.connect(door.port, "alice", password="nope")
            refused = await wrong.expect("passwdmismatch")
            assert "wrong password" in refused.arguments[0]
            await wrong.expect("error")
            await wrong.expect("disconnect")

    run(body())


def test_a_new_name_that_looks_like_an_account_is_432_with_the_reason(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (_server, door):
            (await irc_user(door, "mary")).close()
            client = await IrcLibClient.connect(door.port, "rnary", password="pw")
            refused = await client.expect("erroneusnickname")
            assert refused.arguments[0] == "rnary" and "looks like mary" in refused.arguments[1]
            await client.expect("disconnect")

    run(body())


def test_no_password_is_refused_with_a_sentence(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (_server, door):
            client = await IrcLibClient.connect(door.port, "alice")
            refused = await client.expect("passwdmismatch")
            assert "PASS or SASL" in refused.arguments[0]
            await client.expect("disconnect")

    run(body())


def test_sasl_plain_logs_in_and_a_wrong_password_is_904(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (_server, door):
            first = await irc_user(door, "carol", "pw1")
            first.close()
            raw = await RawIrc.connect(door.port)
            await raw.send("CAP LS 302", "NICK carol", "USER c 0 * :Carol")
            assert "sasl=PLAIN" in (await raw.expect("CAP")).params[-1]
            await raw.send("CAP REQ :sasl")
            assert (await raw.expect("CAP")).params[1] == "ACK"
            await raw.send("AUTHENTICATE PLAIN")
            await raw.expect("AUTHENTICATE")
            await raw.send(*[f"AUTHENTICATE {c}" for c in plain_payload("carol", "wrong")])
            failed = await raw.expect("904")
            assert "wrong password" in failed.params[-1]
            await raw.send("AUTHENTICATE PLAIN")
            await raw.expect("AUTHENTICATE")
            await raw.send(*[f"AUTHENTICATE {c}" for c in plain_payload("carol", "pw1")])
            assert (await raw.expect("900")).params[2] == "carol"
            await raw.expect("903")
            await raw.send("CAP END")
            assert (await raw.expect("001")).params[0] == "carol"
            await raw.expect("JOIN", lambda m: m.params[0] == "#lobby")
            raw.close()

    run(body())


def test_room_lines_wait_for_the_welcome_while_caps_are_negotiated(tmp_path: Path) -> None:
    """SASL logs in (so the core puts the session in #lobby) before CAP END: what is said
    meanwhile comes after 001 and the JOIN, never before; the speaker never hears itself."""
    async def body() -> None:
        async with irc_server(tmp_path) as (_server, door):
            (await irc_user(door, "dave", "pw")).close()
            talker = await irc_user(door, "erin", "pw2")
            raw = await RawIrc.connect(door.port)
            await raw.send("CAP LS 302", "NICK dave", "USER d 0 * :Dave", "CAP REQ :sasl",
                           "AUTHENTICATE PLAIN")
            await raw.expect("AUTHENTICATE")
            await raw.send(*[f"AUTHENTICATE {c}" for c in plain_payload("dave", "pw")])
            await raw.expect("903")
            await talker.expect("join", lambda e: e.source.nick == "dave")
            talker.conn.privmsg("#lobby", "said while dave negotiates")
            await raw.send("PING :mark")  # answered during registration, after the line
            await raw.expect("PONG")
            assert not [m for m in raw.lines if m.verb == "PRIVMSG"]
            await raw.send("CAP END")
            await raw.expect("001")
            await raw.expect("JOIN", lambda m: m.params[0] == "#lobby")
            said = await raw.expect("PRIVMSG")
            assert said.source.startswith("erin!") and said.params[-1] == \
                "said while dave negotiates"
            raw.close()
            talker.close()

    run(body())


def test_commands_before_registration_get_451(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (_server, door):
            raw = await RawIrc.connect(door.port)
            await raw.send("JOIN #lobby", "PING :x", "USER a 0 *")
            assert (await raw.expect("451")).params[-1] == "You have not registered"
            assert (await raw.expect("PONG")).params[-1] == "x"
            assert (await raw.expect("461")).params[1] == "USER"
            raw.close()

    run(body())


# ---------------------------------------------------------------- chat across doors


def test_irc_and_play_users_chat_in_one_room(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            alice = await irc_user(door, "alice")
            await bob.expect("joined", user="alice")
            alice.conn.privmsg("#lobby", "hello from irc \x02bold\x02")
            said = await bob.expect("room_msg", user="alice")
            assert said["text"] == "hello from irc bold" and said["room"] == "lobby"
            await bob.say("hello from play")
            heard = await alice.expect("pubmsg")
            assert heard.source.nick == "bob" and heard.target == "#lobby"
            assert heard.arguments == ["hello from play"]
            # a play nick never passes for someone else on IRC: the account shows
            await bob.command("nick", "bobby")
            renamed = await alice.expect("pubnotice", lambda e: "bobby" in e.arguments[0])
            assert renamed.arguments[0] == "bob is now known as bobby in #lobby"
            await bob.say("still me")
            assert (await alice.expect("pubmsg")).source.nick == "bob"
            # a long play message is split at word boundaries, nothing lost
            long_text = " ".join(f"word{i}" for i in range(200))  # under TEXT_MAX
            await bob.say(long_text)
            parts = []
            while " ".join(parts) != long_text:
                event = await alice.expect("pubmsg")
                parts.append(event.arguments[0])
                assert len(parts) < 10
            assert len(parts) > 1
            # PMs cross doors both ways
            alice.conn.privmsg("bob", "psst")
            pm = await bob.expect("pm")
            assert pm["sender"] == "alice" and pm["text"] == "psst"
            await bob.command("msg", "alice secret plan")
            private = await alice.expect("privmsg")
            assert private.source.nick == "bob" and private.arguments == ["secret plan"]
            # leaving shows on the other door
            alice.conn.quit("bye now")
            await bob.expect("left", user="alice")
            await bob.close()

    run(body())


def test_broadcasts_cross_doors_and_history_is_the_same_from_either_door(
        tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            alice = await irc_user(door, "alice")
            alice.conn.send_raw("ALL hello everyone from irc")  # a play command as a verb
            heard = await bob.expect("bm")
            assert heard["sender"] == "alice" and heard["text"] == "hello everyone from irc"
            await bob.command("all", "and hello from play")
            told = await alice.expect("privnotice", lambda e: e.source.nick == "bob")
            assert told.arguments == ["[to everyone] and hello from play"]
            alice.conn.privmsg("#lobby", "said on irc")
            await bob.expect("room_msg", text="said on irc")
            alice.close()
            await bob.expect("left", user="alice")
            # the same account on the play door: what it did on IRC is its history
            again = await logged_in(server.port, "alice")
            await again.say("said on play")
            msg_id = again.next_id()
            await again.send({"type": "cmd", "id": msg_id, "name": "history", "args": ""})
            page = await again.expect("history", id=msg_id)
            got = [(e["type"], e["sender"], e["text"]) for e in page["entries"]]
            assert got == [("BM", "alice", "hello everyone from irc"),
                           ("BM", "bob", "and hello from play"),
                           ("ROOM", "alice", "said on irc"), ("ROOM", "alice", "said on play")]
            await again.close()
            # and back on IRC, HISTORY (a play command) shows the same, as notices
            irc_again = await irc_user(door, "alice")
            irc_again.conn.send_raw("HISTORY")
            shown = [(await irc_again.expect("privnotice", lambda e, t=text: t in e.arguments[0]))
                     for text in ("hello everyone from irc", "said on irc", "said on play")]
            assert all("<alice>" in e.arguments[0] for e in shown)
            irc_again.close()
            await bob.close()

    run(body())


def test_away_both_ways(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            alice = await irc_user(door, "alice")
            assert (await bob.command("away", "lunch"))["type"] == "ok"
            alice.conn.privmsg("bob", "are you there?")
            away = await alice.expect("away")  # 301, as IRC servers answer a PM to the away
            assert away.arguments == ["bob", "lunch"]
            alice.conn.whois(["bob"])
            assert (await alice.expect("away")).arguments == ["bob", "lunch"]
            await alice.expect("endofwhois")
            alice.conn.send_raw("AWAY :in a meeting")
            await alice.expect("nowaway")
            told = await bob.command("msg", "alice ping")  # the play door's sender is told
            assert told["lines"] == ["alice is away: in a meeting"]
            alice.conn.send_raw("AWAY")
            await alice.expect("unaway")
            alice.close()
            await bob.close()

    run(body())


def test_long_message_lines_stay_within_512_bytes(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            raw = await RawIrc.connect(door.port)
            await raw.send("PASS pw", "NICK dave", "USER d 0 * :D")
            await raw.expect("JOIN")
            text = "é" * 700 + " " + "x" * 300
            await bob.say(text)
            got = []
            while "".join(got).replace(" ", "") != text.replace(" ", ""):
                line = await raw.expect("PRIVMSG")
                assert len(line.to_bytes()) <= MAX_LINE
                got.append(line.params[1])
            raw.close()
            await bob.close()

    run(body())


def test_channels_are_rooms(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            alice = await irc_user(door, "alice")
            alice.conn.join("#games")  # one more channel; #lobby stays
            await alice.expect("join", lambda e: e.target == "#games")
            alice.conn.part(["#lobby"])
            parted = await alice.expect("part", lambda e: e.target == "#lobby")
            assert parted.arguments == []  # a plain PART tells no reason
            assert (await bob.expect("left", user="alice"))["room"] == "lobby"
            await bob.command("join", "games")
            await alice.expect("join", lambda e: e.source.nick == "bob")
            alice.conn.names(["#games"])
            names = await alice.expect("namreply")
            assert set(names.arguments[-1].split()) == {"alice", "bob"}
            alice.conn.who("#games")
            whos = [await alice.expect("whoreply"), await alice.expect("whoreply")]
            assert {w.arguments[4] for w in whos} == {"alice", "bob"}
            await alice.expect("endofwho")
            alice.conn.list()
            listed = {e.arguments[0]: int(e.arguments[1])
                      for e in await alice.collect("list", until="listend")}
            assert listed == {"#games": 2, "#lobby": 1}  # bob is in both
            await bob.command("nick", "bobby games")  # a play nick is per room
            await alice.expect("pubnotice", lambda e: "bobby" in e.arguments[0])
            alice.conn.whois(["bob"])
            who = await alice.expect("whoisuser")
            assert who.arguments[0] == "bob"
            channels = (await alice.expect("whoischannels")).arguments[1].split()
            assert set(channels) == {"#games", "#lobby"}
            special = await alice.expect("320")
            assert special.arguments == ["bob", "goes by bobby in #games"]
            assert (await alice.expect("whoisaccount")).arguments[:2] == ["bob", "bob"]
            await alice.expect("endofwhois")
            alice.conn.whois(["nobody"])  # no such account: 401, then the end as always
            assert (await alice.expect("nosuchnick")).arguments[0] == "nobody"
            assert (await alice.expect("endofwhois")).arguments[0] == "nobody"
            alice.conn.part(["#games"])  # her only channel: it stays
            await alice.expect("pubnotice", lambda e: "at least one" in e.arguments[-1])
            alice.conn.join("#lobby")
            await alice.expect("join", lambda e: e.target == "#lobby")
            alice.conn.part(["#games"])
            await alice.expect("part", lambda e: e.target == "#games")
            alice.close()
            await bob.close()

    run(body())


def test_the_standard_error_numerics(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (server, door):
            alice = await irc_user(door, "alice")
            bob = await logged_in(server.port, "bob")
            alice.conn.nick("Bob")  # another account's name, online: in use
            assert (await alice.expect("nicknameinuse")).arguments[0] == "Bob"
            await bob.close()
            await alice.expect("part", lambda e: e.source.nick == "bob")
            alice.conn.privmsg("nobody", "hi")
            assert (await alice.expect("nosuchnick")).arguments[0] == "nobody"
            alice.conn.privmsg("#elsewhere", "hi")
            assert (await alice.expect("cannotsendtochan")).arguments[0] == "#elsewhere"
            alice.conn.join("#bad!name")
            assert (await alice.expect("nosuchchannel")).arguments[0] == "#bad!name"
            alice.conn.nick("mallory")
            assert (await alice.expect("erroneusnickname")).arguments[0] == "mallory"
            alice.conn.send_raw("FROBNICATE x")
            assert (await alice.expect("unknowncommand")).arguments[0] == "FROBNICATE"
            alice.conn.send_raw("JOIN")
            assert (await alice.expect("needmoreparams")).arguments[0] == "JOIN"
            alice.conn.send_raw("PRIVMSG #lobby")
            await alice.expect("notexttosend")
            alice.conn.send_raw("USER a 0 * :again")
            await alice.expect("alreadyregistered")
            alice.conn.ping("tok")
            assert (await alice.expect("pong")).arguments[-1] == "tok"
            alice.conn.whowas("nobody")  # no WHOWAS here, but the numerics clients wait for
            assert (await alice.expect("wasnosuchnick")).arguments[0] == "nobody"
            await alice.expect("endofwhowas")
            alice.conn.lusers()  # bob has gone: alice alone, in #lobby
            assert (await alice.expect("luserclient")).arguments[0].startswith("There are 1 ")
            assert (await alice.expect("luserchannels")).arguments[0] == "1"
            await alice.expect("luserme")
            alice.close()

    run(body())


# ---------------------------------------------------------------- games


def test_a_game_played_from_irc_to_the_end(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            alice = await irc_user(door, "alice")
            alice.conn.send_raw("GAME tictactoe bob")  # what /quote GAME tictactoe bob sends
            await bob.expect("notice", where=lambda f: "alice" in f["text"])
            await bob.command("accept")
            state = await bob.expect("game", where=lambda f: f.get("turn"))
            x_player = state["players"][0]
            moves = {x_player: ["a1", "a2", "a3"]}
            moves[state["players"][1]] = ["b1", "b2"]
            board_seen = await alice.expect("pubnotice", lambda e: "tictactoe" in e.arguments[0])
            assert "alice" in board_seen.arguments[0]
            turn = x_player
            while True:
                move = moves[turn].pop(0)
                if turn == "alice":
                    alice.conn.privmsg("#lobby", move)
                else:
                    await bob.say(move)
                state = await bob.expect("game", where=lambda f, m=move: True)
                while state.get("turn") == turn and not state.get("over"):
                    state = await bob.expect("game")
                if state.get("over"):
                    break
                turn = state["turn"]
            assert "wins" in state["status"] or "won" in state["status"]
            # the final board reached IRC as notices, with X in colour
            notices = []
            while not any("wins" in n or "won" in n for n in notices):
                notices.append((await alice.expect("pubnotice")).arguments[0])
            assert any("\x03" in n and "X" in n for n in notices)
            alice.close()
            await bob.close()

    run(body())


def test_actions_cross_doors(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            alice = await irc_user(door, "alice")
            alice.conn.action("#lobby", "waves")
            said = await bob.expect("room_msg", user="alice")
            assert said["text"] == "/me waves"  # the play client shows * alice waves
            await bob.command("me", "bows")
            action = await alice.expect("action")
            assert action.source.nick == "bob" and action.arguments == ["bows"]
            alice.conn.topic("#lobby")
            await alice.expect("notopic")
            alice.close()
            await bob.close()

    run(body())


def test_a_topic_change_is_a_topic_line_on_irc_and_a_notice_on_play(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            await bob.command("join", "games")  # bob made the room: he may set its topic
            await bob.expect("room", room="games")
            alice = await irc_user(door, "alice")
            alice.conn.join("#games")
            await alice.expect("join", lambda e: e.target == "#games")
            await bob.command("topic", "tonight: connect four")
            topic = await alice.expect("topic", lambda e: e.target == "#games")
            assert topic.source.nick == "bob" and topic.source.host
            assert topic.arguments == ["tonight: connect four"]
            told = await bob.expect("notice", room="games",
                                    where=lambda f: "topic" in f["text"])
            assert told["text"] == "bob set the topic of #games: tonight: connect four"
            # a newcomer's JOIN burst carries it as 332, and clearing it is TOPIC with ""
            alice.conn.topic("#games")
            assert (await alice.expect("currenttopic")).arguments[-1] == "tonight: connect four"
            await bob.command("topic", "-")
            cleared = await alice.expect("topic", lambda e: e.arguments == [""])
            assert cleared.source.nick == "bob"
            alice.close()
            await bob.close()

    run(body())


def test_a_join_burst_is_join_topic_then_names_and_no_331_without_a_topic(
        tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            await bob.command("join", "games")
            await bob.expect("room", room="games")
            await bob.command("topic", "tonight: connect four")
            (await irc_user(door, "erin")).close()
            raw = await RawIrc.connect(door.port)
            await raw.send("PASS secret", "NICK erin", "USER e 0 * :Erin")
            await raw.expect("366", lambda m: m.params[1] == "#lobby")
            await raw.send("JOIN #games")
            await raw.expect("366", lambda m: m.params[1] == "#games")
            await raw.send("PING :end")
            await raw.expect("PONG")
            raw.close()
            seen = [m.verb for m in raw.history if m.verb in ("JOIN", "331", "332", "353", "366")]
            assert seen == ["JOIN", "353", "366", "JOIN", "332", "353", "366"]
            topic = next(m for m in raw.history if m.verb == "332")
            assert topic.params[1:] == ("#games", "tonight: connect four")
            await bob.close()

    run(body())


def test_mode_list_who_and_lusers_tell_the_rooms_real_state(tmp_path: Path) -> None:
    """324 is the room's real modes (+i, slow mode), 322 carries the topic, WHO says G for
    the away, and 265/266's max is the most users online at once since start."""
    async def body() -> None:
        async with irc_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            carol = await logged_in(server.port, "carol")
            alice = await irc_user(door, "alice")
            alice.conn.send_raw("MODE #lobby")
            assert (await alice.expect("channelmodeis")).arguments == ["#lobby", "+nt"]
            await bob.command("join", "games")  # bob made the room: he sets its rules
            await bob.expect("room", room="games")
            for command, args in (("topic", "tonight: chess"), ("mode", "+i"), ("slow", "30")):
                assert (await bob.command(command, args))["type"] == "ok", command
            alice.conn.send_raw("MODE #games")  # not a member: the modes are public anyway
            assert (await alice.expect("channelmodeis")).arguments == ["#games", "+int"]
            slow = await alice.expect("privnotice", lambda e: "slow mode" in e.arguments[0])
            assert "30 s" in slow.arguments[0]
            alice.conn.list()
            listed = {e.arguments[0]: e.arguments[1:]
                      for e in await alice.collect("list", until="listend")}
            assert listed == {"#lobby": ["3", ""], "#games": ["1", "tonight: chess"]}
            assert (await bob.command("mode", "-i"))["type"] == "ok"
            alice.conn.send_raw("MODE #games")
            assert (await alice.expect("channelmodeis")).arguments == ["#games", "+nt"]

            assert (await bob.command("away", "lunch"))["type"] == "ok"
            alice.conn.who("#lobby")
            flags = {e.arguments[4]: e.arguments[5]
                     for e in await alice.collect("whoreply", until="endofwho")}
            assert flags == {"alice": "H", "bob": "G", "carol": "H"}

            await carol.close()  # three were online at once; two are now
            await alice.expect("part", lambda e: e.source.nick == "carol")
            alice.conn.send_raw("LUSERS")
            for kind in ("n_local", "n_global"):
                counts = await alice.expect(kind)
                assert counts.arguments[:2] == ["2", "3"], counts.arguments
                assert counts.arguments[2].endswith("users 2, max 3")
            alice.close()
            await bob.close()

    run(body())
