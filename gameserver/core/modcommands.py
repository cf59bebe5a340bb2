"""Moderation commands: /op /deop /kick /ban /unban /mute /unmute /topic /mode /invite /slow
/modlog, and /admin for the server-wide ones. Every action is announced and logged."""

from __future__ import annotations

import time

from gameserver import names
from gameserver.core.commands import CommandError, CommandSet, checked, clean_message
from gameserver.core.community import CommunityHost, rule
from gameserver.core.events import TopicChanged
from gameserver.core.logins import LOBBY
from gameserver.core.roles import ADMIN, HOST, OP, OWNER, SERVER, SLOW_MAX, parse_duration
from gameserver.core.rooms import Room, Session
from gameserver.durations import say_duration, say_every
from gameserver.protocol import Command, Notice, Ok

COMMANDS: CommandSet[CommunityHost] = CommandSet()
command = COMMANDS.command
MODLOG_DEFAULT = 20
MODLOG_MAX = 500


def usage(host: CommunityHost, message: Command) -> CommandError:
    return CommandError("usage", f"usage: {host.hub.commands[message.name.lower()].usage}")


def here(session: Session) -> Room:
    if session.room is None:
        raise CommandError("no_room", "you are not in a room; /join one")
    return session.room


def scope_of(room: Room) -> str:
    """The lobby is the whole server's room: what its admins do there is server-wide."""
    return SERVER if room.name == LOBBY else room.name


def split_duration(words: list[str]) -> tuple[float | None, str]:
    """[duration] [reason...] -> (seconds or None for good, reason)."""
    if words:
        seconds = parse_duration(words[0])
        if seconds is not None:
            return seconds, " ".join(words[1:])
    return None, " ".join(words)


def ok(host: CommunityHost, session: Session, message: Command, text: str | None = None) -> None:
    host.hub.send(session, Ok(id=message.id, text=text))


def _for(seconds: float | None) -> str:
    return " for good" if seconds is None else f" for {say_duration(seconds)}"


def _why(reason: str) -> str:
    return f" ({reason})" if reason else ""


# ---------------------------------------------------------------- roles in a room


@command("op", "/op NICK|USER", "make someone an op of your room (owners)")
def op(host: CommunityHost, session: Session, message: Command) -> None:
    set_op(host, session, message, True)


@command("deop", "/deop NICK|USER", "take someone's ops away (owners)")
def deop(host: CommunityHost, session: Session, message: Command) -> None:
    set_op(host, session, message, False)


def set_op(host: CommunityHost, session: Session, message: Command, make: bool) -> None:
    room = here(session)
    word = message.args.strip()
    if not word or " " in word:
        raise usage(host, message)
    actor = session.user
    assert actor is not None
    if room.name == LOBBY:
        raise CommandError("not_allowed", "the lobby has no ops: its admins run it (/admin)")

    def done(user: str) -> None:
        rule(lambda: host.community.check_over(actor, user, room.name, OWNER))
        rules = host.community.room(room.name)
        if make == (user.casefold() in rules.ops):
            raise CommandError("same", f"{user} is {'already' if make else 'not'} an op "
                                       f"of #{room.name}")

        def change() -> None:
            host.community.set_op(room.name, user, make)
            host.log(room.name, actor, "op" if make else "deop", user)

        def told() -> None:
            verb = "made {} an op" if make else "took ops from {}"
            host.announce(room.name, f"{actor} {verb.format(user)} of #{room.name}")
            host.roles_changed(room.name)
            ok(host, session, message)

        host.change(session, message.id, change, told)

    host.resolve_user(session, message.id, word, done)


# ---------------------------------------------------------------- sanctions in a room


@command("kick", "/kick NICK [reason]", "put someone out of your room (ops)")
def kick(host: CommunityHost, session: Session, message: Command) -> None:
    room = here(session)
    word, _, reason = message.args.strip().partition(" ")
    if not word:
        raise usage(host, message)
    actor = session.user
    assert actor is not None
    target = host.member(room, word)
    if target is None or target.user is None:
        raise CommandError("not_here", f"nobody called {word} is in #{room.name}")
    user = target.user
    rule(lambda: host.community.check_over(actor, user, scope_room(room),
                                           ADMIN if room.name == LOBBY else OP))
    reason = reason.strip()
    nick = target.nick_in(room.name)

    def told() -> None:  # once the modlog has it
        host.announce(room.name, f"{actor} kicked {nick} from #{room.name}{_why(reason)}")
        where = "this server" if room.name == LOBBY else f"#{room.name}"
        host.move_out(target, room, f"{actor} kicked you from {where}{_why(reason)}", "kicked")
        ok(host, session, message)

    host.change(session, message.id, lambda: host.log(scope_of(room), actor, "kick", user,
                                                      reason), told)


def scope_room(room: Room) -> str | None:
    return None if room.name == LOBBY else room.name


@command("ban", "/ban NICK|USER [duration] [reason]",
         "keep someone out of your room (ops; in the lobby: the server, admins)")
def ban(host: CommunityHost, session: Session, message: Command) -> None:
    room = here(session)
    words = message.args.split()
    if not words:
        raise usage(host, message)
    sanction(host, session, message, "ban", words, scope_of(room))


@command("mute", "/mute NICK|USER [duration] [reason]", "stop someone speaking in your room (ops)")
def mute(host: CommunityHost, session: Session, message: Command) -> None:
    room = here(session)
    words = message.args.split()
    if not words:
        raise usage(host, message)
    sanction(host, session, message, "mute", words, scope_of(room))


def sanction(host: CommunityHost, session: Session, message: Command, kind: str,
             words: list[str], scope: str) -> None:
    actor = session.user
    assert actor is not None
    seconds, reason = split_duration(words[1:])
    reason = clean_message(reason) if reason.strip() else ""
    room_name = None if scope == SERVER else scope

    def done(user: str) -> None:
        rule(lambda: host.community.check_over(actor, user, room_name,
                                               ADMIN if scope == SERVER else OP))

        def change() -> None:
            host.community.sanction(kind, scope, user, seconds, reason, actor)
            host.log(scope, actor, kind, user, f"{_for(seconds).strip()}{_why(reason)}")

        host.change(session, message.id, change, lambda: told(user))

    def told(user: str) -> None:
        where = "this server" if scope == SERVER else f"#{scope}"
        verb = "banned" if kind == "ban" else "muted"
        text = f"{actor} {verb} {user} from {where}{_for(seconds)}{_why(reason)}"
        if kind == "mute":
            text = f"{actor} muted {user} in {where}{_for(seconds)}{_why(reason)}"
        shown = {session.room.name} if session.room else set()
        target = host.hub.session_of(user)
        if target is not None:
            shown.update(target.room_names())
        for name in shown:
            if scope == SERVER or name == scope:
                host.announce(name, text)
        if target is not None and kind == "ban":
            if scope == SERVER:
                host.hub.kick(target, f"{actor} banned you from this server"
                                      f"{_for(seconds)}{_why(reason)}", "banned", text)
            elif target.in_room(scope):
                banned_from = target.room_named(scope)
                assert banned_from is not None
                host.move_out(target, banned_from, f"{actor} banned you from #{scope}"
                                                   f"{_for(seconds)}{_why(reason)}", "banned")
        elif target is not None and kind == "mute" and (
                scope == SERVER or not target.in_room(scope)):
            host.hub.send(target, Notice(text=text, kind="warn"))
        ok(host, session, message)

    host.resolve_user(session, message.id, words[0], done)


@command("unban", "/unban USER", "let someone back in (ops; in the lobby: the server)")
def unban(host: CommunityHost, session: Session, message: Command) -> None:
    lift(host, session, message, "ban", scope_of(here(session)))


@command("unmute", "/unmute NICK|USER", "let someone speak again (ops)")
def unmute(host: CommunityHost, session: Session, message: Command) -> None:
    lift(host, session, message, "mute", scope_of(here(session)))


def lift(host: CommunityHost, session: Session, message: Command, kind: str, scope: str) -> None:
    word = message.args.strip()
    if not word or " " in word:
        raise usage(host, message)
    actor = session.user
    assert actor is not None
    room_name = None if scope == SERVER else scope
    rule(lambda: host.community.check_rank(actor, room_name, ADMIN if scope == SERVER else OP))

    def done(user: str) -> None:
        def change() -> None:
            if host.community.lift(kind, scope, user) is None:
                where = "this server" if scope == SERVER else f"#{scope}"
                raise CommandError("not_sanctioned", f"{user} is not {kind}ned"
                                                     f"{' from ' if kind == 'ban' else ' in '}"
                                                     f"{where}")
            host.log(scope, actor, "un" + kind, user)

        host.change(session, message.id, change, lambda: told(user))

    def told(user: str) -> None:
        where = "this server" if scope == SERVER else f"#{scope}"
        text = (f"{actor} {'unbanned' if kind == 'ban' else 'unmuted'} {user} "
                f"{'from' if kind == 'ban' else 'in'} {where}")
        host.announce(session.room.name if session.room else LOBBY, text)
        target = host.hub.session_of(user)
        if target is not None and (session.room is None
                                   or not target.in_room(session.room.name)):
            host.hub.send(target, Notice(text=text))
        ok(host, session, message)

    host.resolve_user(session, message.id, word, done)


# ---------------------------------------------------------------- room settings


@command("topic", "/topic [TEXT]", "show the room's topic, or set it (ops)")
def topic(host: CommunityHost, session: Session, message: Command) -> None:
    room = here(session)
    text = message.args.strip()
    rules = host.community.rooms.get(room.name)
    if not text:
        current = rules.topic if rules else ""
        ok(host, session, message, f"topic of #{room.name}: {current}" if current
           else f"#{room.name} has no topic")
        return
    actor = session.user
    assert actor is not None
    rule(lambda: host.community.check_rank(actor, scope_room(room),
                                           ADMIN if room.name == LOBBY else OP))
    text = "" if text == "-" else clean_message(text)[:names.TOPIC_MAX]

    def change() -> None:
        host.community.update_room(room.name, topic=text)
        host.log(scope_of(room), actor, "topic", room.name, text)

    def told() -> None:
        host.hub.deliver_to_room(room, TopicChanged(
            room=room.name, by=actor, topic=text,
            text=f"{actor} set the topic of #{room.name}: {text}" if text
            else f"{actor} cleared the topic of #{room.name}"))
        host.roles_changed(room.name)
        ok(host, session, message)

    host.change(session, message.id, change, told)


@command("mode", "/mode +i|-i", "make your room invite-only, or open again (ops)")
def mode(host: CommunityHost, session: Session, message: Command) -> None:
    room = here(session)
    flag = message.args.strip()
    if flag not in ("+i", "-i"):
        raise usage(host, message)
    actor = session.user
    assert actor is not None
    if room.name == LOBBY:
        raise CommandError("not_allowed", "the lobby is open to everyone")
    rule(lambda: host.community.check_rank(actor, room.name, OP))

    def change() -> None:
        host.community.update_room(room.name, invite_only=flag == "+i")
        host.log(room.name, actor, "mode", room.name, flag)

    def told() -> None:
        host.announce(room.name, f"{actor} made #{room.name} "
                      + ("invite-only (/invite USER lets someone in)" if flag == "+i"
                         else "open to everyone"))
        ok(host, session, message)

    host.change(session, message.id, change, told)


@command("invite", "/invite USER", "let someone into your invite-only room (ops)")
def invite(host: CommunityHost, session: Session, message: Command) -> None:
    room = here(session)
    word = message.args.strip()
    if not word or " " in word:
        raise usage(host, message)
    actor = session.user
    assert actor is not None
    rule(lambda: host.community.check_rank(actor, scope_room(room), OP))

    def done(user: str) -> None:
        def change() -> None:
            host.community.invite(room.name, user)
            host.log(room.name, actor, "invite", user)

        host.change(session, message.id, change, lambda: told(user))

    def told(user: str) -> None:
        host.announce(room.name, f"{actor} invited {user} to #{room.name}")
        target = host.hub.session_of(user)
        if target is not None:
            host.hub.send(target, Notice(text=f"{actor} invites you to #{room.name}: "
                                              f"/join {room.name}"))
        ok(host, session, message)

    host.resolve_user(session, message.id, word, done)


@command("slow", "/slow N", "N seconds between one person's messages here; 0 is off (ops)")
def slow(host: CommunityHost, session: Session, message: Command) -> None:
    room = here(session)
    word = message.args.strip()
    given = 0.0 if word == "0" else parse_duration(word)  # 30, 30s, 2m
    if given is None or given > SLOW_MAX:
        raise CommandError("usage", f"N must be 0 (off) to {say_duration(SLOW_MAX)}, in seconds"
                                    " or as 30s, 2m; usage: /slow N")
    actor = session.user
    assert actor is not None
    rule(lambda: host.community.check_rank(actor, scope_room(room),
                                           ADMIN if room.name == LOBBY else OP))
    seconds = int(given)

    def change() -> None:
        host.community.update_room(room.name, slow=seconds)
        host.log(scope_of(room), actor, "slow", room.name, str(seconds))

    def told() -> None:
        host.announce(room.name, f"{actor} turned slow mode off in #{room.name}" if not seconds
                      else f"{actor} set slow mode in #{room.name}: one message "
                           f"{say_every(seconds)} per person")
        ok(host, session, message)

    host.change(session, message.id, change, told)


@command("modlog", "/modlog [N]", "the last N moderation actions here (ops, admins)")
def modlog(host: CommunityHost, session: Session, message: Command) -> None:
    room = here(session)
    word = message.args.strip()
    if word and not word.isdigit():
        raise usage(host, message)
    limit = min(int(word or MODLOG_DEFAULT), MODLOG_MAX) or MODLOG_DEFAULT
    actor = session.user
    assert actor is not None
    admin = host.community.rank(actor) >= ADMIN
    if room.name == LOBBY or not admin:
        rule(lambda: host.community.check_rank(actor, scope_room(room),
                                               ADMIN if room.name == LOBBY else OP))
    scope = None if room.name == LOBBY else room.name

    def show(rows: list[tuple[float, str, str, str, str, str]]) -> None:
        lines = [f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(ts))}  "
                 f"{'#' + where if where != SERVER else 'server'}  {who} {action} {target}"
                 f"{'  ' + detail if detail else ''}"
                 for ts, where, who, action, target, detail in rows]
        title = "the server's" if scope is None else f"#{room.name}'s"
        host.hub.send(session, Ok(id=message.id, lines=lines or ["(nothing yet)"],
                                  text=f"{title} moderation log:"))

    storage = host.storage
    host.ask(session, message.id, lambda: storage.modlog(scope, limit), show)


# ---------------------------------------------------------------- admins


@command("admin", "/admin grant|revoke|ban|unban|kick|mute|unmute|close|reopen|list ...",
         "server-wide moderation and admins (admins)")
def admin(host: CommunityHost, session: Session, message: Command) -> None:
    verb, _, rest = message.args.strip().partition(" ")
    verb = verb.lower()
    actor = session.user
    assert actor is not None
    if verb == "list":
        people = sorted(host.community.admins.values(), key=lambda a: a[0].casefold())
        lines = [f"{name} ({'host' if rank == HOST else 'admin'})" for name, rank in people]
        host.hub.send(session, Ok(id=message.id, text=f"{len(lines)} admin"
                                  f"{'s' if len(lines) != 1 else ''}:", lines=lines))
        return
    rule(lambda: host.community.check_rank(actor, None, ADMIN))
    words = rest.split()
    if verb in ("ban", "mute") and words:
        sanction(host, session, message, verb, words, SERVER)
    elif verb in ("unban", "unmute") and len(words) == 1:
        lift(host, session, Command(id=message.id, name=message.name, args=words[0]),
             verb[2:], SERVER)
    elif verb in ("grant", "revoke") and len(words) == 1:
        grant(host, session, message, words[0], verb == "grant")
    elif verb == "kick" and words:
        admin_kick(host, session, message, words[0], " ".join(words[1:]))
    elif verb in ("close", "reopen") and len(words) == 1:
        close(host, session, message, checked(names.check_room, words[0]), verb == "close")
    else:
        raise usage(host, message)


def grant(host: CommunityHost, session: Session, message: Command, word: str,
          make: bool) -> None:
    actor = session.user
    assert actor is not None

    def done(user: str) -> None:
        rule(lambda: host.community.check_over(actor, user, None, ADMIN))
        if make == (host.community.rank(user) >= ADMIN):
            raise CommandError("same", f"{user} is {'already' if make else 'not'} an admin")

        def change() -> None:
            host.community.set_admin(user, ADMIN if make else None)
            host.log(SERVER, actor, "grant" if make else "revoke", user)

        host.change(session, message.id, change, lambda: told(user))

    def told(user: str) -> None:
        text = (f"{actor} made {user} an admin of this server" if make
                else f"{actor} took {user}'s admin rights away")
        host.announce(LOBBY, text)
        target = host.hub.session_of(user)
        if target is not None and not target.in_room(LOBBY):
            host.hub.send(target, Notice(text=text))
        host.roles_changed()
        ok(host, session, message)

    host.resolve_user(session, message.id, word, done)


def admin_kick(host: CommunityHost, session: Session, message: Command, word: str,
               reason: str) -> None:
    actor = session.user
    assert actor is not None

    def done(user: str) -> None:
        rule(lambda: host.community.check_over(actor, user, None, ADMIN))
        target = host.hub.session_of(user)
        if target is None:
            raise CommandError("offline", f"{user} is not online")

        def told() -> None:  # once the modlog has it
            text = f"{actor} kicked {user} off the server{_why(reason)}"
            for name in target.room_names():
                host.announce(name, text)
            host.hub.kick(target, f"{actor} kicked you off this server{_why(reason)}",
                          "kicked", text)
            ok(host, session, message)

        host.change(session, message.id, lambda: host.log(SERVER, actor, "kick", user, reason),
                    told)

    host.resolve_user(session, message.id, word, done)


def close(host: CommunityHost, session: Session, message: Command, room: str,
          closing: bool) -> None:
    actor = session.user
    assert actor is not None
    if room == LOBBY:
        raise CommandError("not_allowed", "the lobby cannot be closed")
    rules = host.community.room(room)
    if rules.closed == closing:
        raise CommandError("same", f"#{room} is {'already closed' if closing else 'not closed'}")

    def change() -> None:
        host.community.update_room(room, closed=closing)
        host.log(room, actor, "close" if closing else "reopen", room)

    def told() -> None:
        if closing:
            host.announce(room, f"{actor} closed #{room}")
            open_room = host.hub.rooms.get(room)
            if open_room is not None:  # else nobody is in it
                for member in list(open_room.members.values()):
                    if member is not session and member.user is not None \
                            and host.community.rank(member.user) < ADMIN:
                        host.move_out(member, open_room, f"{actor} closed #{room}", "closed")
        ok(host, session, message, f"#{room} is {'closed' if closing else 'open again'}")

    host.change(session, message.id, change, told)
