"""The commands people type without thinking: /me /away /whois /ignore /unignore /query /r,
and the account's own: /password and /deleteaccount."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from gameserver.core.chatcommands import send_pm
from gameserver.core.commands import CommandError, CommandSet, clean_message
from gameserver.core.community import CommunityHost
from gameserver.core.logins import BUSY
from gameserver.core.pending import Work
from gameserver.core.rooms import Session
from gameserver.passwords import verify_then_hash
from gameserver.protocol import Command, Error, Notice, Ok
from gameserver.throttle import address_key

COMMANDS: CommandSet[CommunityHost] = CommandSet()
command = COMMANDS.command
ACTION_PREFIX = "/me "  # a room message that is an action ("* alice waves")
CONFIRM_SECONDS = 60.0
IGNORES_MAX = 200


def usage(host: CommunityHost, message: Command) -> CommandError:
    return CommandError("usage", f"usage: {host.hub.commands[message.name.lower()].usage}")


@command("me", "/me ACTION", "say what you do: /me waves shows * you waves")
def me(host: CommunityHost, session: Session, message: Command) -> None:
    if not message.args.strip():
        raise usage(host, message)
    # An action is a room message like any other (stored, confirmed, muted, slowed).
    host.hub._say(session, message.id, ACTION_PREFIX + clean_message(message.args))


@command("away", "/away [MESSAGE]", "say you are away (shown to who PMs you); alone: back")
def away(host: CommunityHost, session: Session, message: Command) -> None:
    user = session.user
    assert user is not None
    text = message.args.strip()
    if not text:
        if host.away.pop(user.casefold(), None) is None:
            host.hub.send(session, Ok(id=message.id, text="you were not away"))
        else:
            host.hub.send(session, Ok(id=message.id, text="you are no longer away"))
        return
    host.away[user.casefold()] = clean_message(text)[:200]
    host.hub.send(session, Ok(id=message.id, text=f"you are away: {host.away[user.casefold()]}"
                                                  " (speaking or /away alone ends it)"))


@command("whois", "/whois NICK|USER", "who someone is: online, where, their role")
def whois(host: CommunityHost, session: Session, message: Command) -> None:
    word = message.args.strip()
    if not word or " " in word:
        raise usage(host, message)

    def show(user: str) -> None:
        target = host.hub.session_of(user)
        lines = []
        if target is None:
            lines.append("offline (a PM is kept for their next login)")
        else:
            where = ", ".join(f"#{name} as {nick}" for name, nick in target.nicks().items())
            lines.append(f"online, in {where or 'no room'}")
            if target.peer and host.community.rank(session.user or "") >= 4:
                lines.append(f"from {target.peer}")
        room = target.room.name if target is not None and target.room else None
        role = host.community.rank_name(user, room)
        if role != "member":
            lines.append(f"{role} of #{room}" if room and role in ("op", "owner") else role)
        away_text = host.away.get(user.casefold())
        if away_text:
            lines.append(f"away: {away_text}")
        host.hub.send(session, Ok(id=message.id, text=f"{user}:", lines=lines,
                                  data={"whois": {"user": user, "online": target is not None,
                                                  "room": room, "role": role,
                                                  "nicks": target.nicks()
                                                  if target is not None else {},
                                                  "away": away_text or None}}))

    host.resolve_user(session, message.id, word, show)


@command("ignore", "/ignore [NICK|USER]", "hide someone's messages and PMs from you; alone: list")
def ignore(host: CommunityHost, session: Session, message: Command) -> None:
    user = session.user
    assert user is not None
    word = message.args.strip()
    if not word:
        ignored = ignores_of(host, session)
        host.hub.send(session, Ok(id=message.id, text=f"you ignore {', '.join(ignored)}"
                                  if ignored else "you ignore nobody",
                                  data={"ignores": ignored}))
        return
    if " " in word:
        raise usage(host, message)

    def done(other: str) -> None:
        if other.casefold() == user.casefold():
            raise CommandError("not_allowed", "you cannot ignore yourself")
        current = ignores_of(host, session)
        if len(current) >= IGNORES_MAX:
            raise CommandError("too_many", f"you already ignore {IGNORES_MAX} people")
        set_ignore(host, session, message.id, other, True, lambda ignored: host.hub.send(
            session, Ok(id=message.id, text=f"you now ignore {other} (/unignore undoes it)",
                        data={"ignores": ignored})))

    host.resolve_user(session, message.id, word, done)


@command("unignore", "/unignore NICK|USER", "see someone's messages again")
def unignore(host: CommunityHost, session: Session, message: Command) -> None:
    user = session.user
    assert user is not None
    word = message.args.strip().lstrip("@")
    if not word or " " in word:
        raise usage(host, message)
    current = {name.casefold(): name for name in ignores_of(host, session)}
    other = current.get(word.casefold())
    if other is None and session.room is not None:  # a nick of someone ignored
        member = host.member(session.room, word)
        if member is not None and member.user is not None:
            other = current.get(member.user.casefold())
    if other is None:
        raise CommandError("not_ignored", f"you do not ignore {word}")
    found = other
    set_ignore(host, session, message.id, other, False, lambda ignored: host.hub.send(
        session, Ok(id=message.id, text=f"you see {found} again", data={"ignores": ignored})))


def ignores_of(host: CommunityHost, session: Session) -> list[str]:
    """Whom the session's account ignores (a guest's list lives as long as the guest)."""
    assert session.user is not None
    return host.hub.ignoring.names(session)  # an account's, read at login (load_ignores)


def set_ignore(host: CommunityHost, session: Session, msg_id: int | None, other: str, on: bool,
               then: Callable[[list[str]], None]) -> None:
    """Kept for an account (across logins); the server stops delivering their words here.

    `then(whom it ignores now)` once it is stored (in the hub's next commit); if the
    store refuses it, the list here goes back as it was and the session is told.
    """
    user = session.user
    assert user is not None
    before = host.hub.ignoring.names(session)
    names = {n.casefold(): n for n in before}
    if on:
        names[other.casefold()] = other
    else:
        names.pop(other.casefold(), None)
    ignored = sorted(names.values(), key=str.casefold)

    def change() -> None:
        undo = host.community.undo
        if undo is not None:
            undo.append(lambda: None if session.closed else host.hub.ignoring.set(session, before))
        if not session.guest:  # guest-3 is someone else next time: nothing is kept
            host.storage.set_ignore(user, other, on)
        host.hub.ignoring.set(session, ignored)

    host.change(session, msg_id, change, lambda: then(ignored))


@command("query", "/query NICK|USER TEXT", "a private message, like /msg")
def query(host: CommunityHost, session: Session, message: Command) -> None:
    word, _, text = message.args.strip().partition(" ")
    if not word or not text.strip():
        raise usage(host, message)
    text = clean_message(text)
    host.resolve_user(session, message.id, word,
                      lambda user: send_pm(host.hub, session, message.id, user, text))


@command("r", "/r TEXT", "reply to the last private message you got")
def reply(host: CommunityHost, session: Session, message: Command) -> None:
    user = session.user
    assert user is not None
    if not message.args.strip():
        raise usage(host, message)
    to = host.last_pm_from.get(user.casefold())
    if to is None:
        raise CommandError("nobody", "nobody has sent you a private message yet")
    send_pm(host.hub, session, message.id, to, clean_message(message.args))


# ---------------------------------------------------------------- the account itself


@command("password", "/password", "change your password (old once, new twice; asked hidden)")
def password(host: CommunityHost, session: Session, message: Command) -> None:
    """The client asks the passwords and sends them as the secret: old, a newline, new."""
    user = session.user
    assert user is not None
    old, sep, new = (message.secret or "").partition("\n")
    if not sep or not old:
        raise CommandError("usage", "your client must ask for the old and the new password;"
                                    " type /password in play")
    if not new:
        raise CommandError("bad_password", "the new password must not be empty")
    hub = host.hub

    def check(account: tuple[str, str] | None) -> None:
        if account is None:
            raise CommandError("no_such_user", "your account is gone")
        # Two hashes: through the same bounded, fair queue as logins.
        done = hub.guarded(session, message.id, store)
        if not hub.hashes.submit(
                Work(run=partial(verify_then_hash, hub.verifier, hub.hasher, old, account[1],
                                 new),
                     done=done, cancelled=done.release, session=session),  # type: ignore[attr-defined]
                address_key(session.peer), lambda: hub.send(session, Error(
                    code="busy", id=message.id, text=BUSY))):
            done.release()  # type: ignore[attr-defined]
            raise CommandError("busy", BUSY)

    def store(pwhash: str | bool) -> None:
        if not pwhash:
            raise CommandError("bad_password", "the old password is wrong; nothing changed")
        assert isinstance(pwhash, str)
        storage = host.storage
        # Written as store work (a store thread on a cluster); the ok once it is written.
        host.ask(session, message.id, lambda: storage.set_password_hash(user, pwhash), changed)

    def changed(found: bool) -> None:
        if not found:
            raise CommandError("no_such_user", "your account is gone")
        host.change(session, message.id, lambda: host.log("*", user, "password", user),
                    lambda: hub.send(session, Ok(id=message.id, text=(
                        "your password is changed; other sessions must log in again"))),
                    refused=lambda: hub.send(session, Ok(id=message.id, text=(
                        "your password is changed; other sessions must log in again (the"
                        " moderation log could not keep a line of it)"))))

    hub.lookups.account_hash(user).then(hub.guarded(session, message.id, check))


@command("deleteaccount", "/deleteaccount [USER]",
         "delete your account for good (asks you to confirm)")
def deleteaccount(host: CommunityHost, session: Session, message: Command) -> None:
    user = session.user
    assert user is not None
    key = user.casefold()
    asked = host.confirm_delete.get(key)
    now = time.monotonic()
    if message.args.strip().casefold() != key or asked is None or now - asked > CONFIRM_SECONDS:
        host.confirm_delete[key] = now
        host.hub.send(session, Ok(id=message.id, text=(
            f"this deletes the account {user} for good: its keys, roles and history go; what "
            f"it said in rooms stays, as said by a deleted user, and the name is free for "
            f"anyone. To go on, type /deleteaccount {user} within a minute")))
        return
    del host.confirm_delete[key]
    hub = host.hub
    storage, store = host.storage, hub.store

    def delete() -> tuple[bool, list[str]]:  # store work: a store thread on a cluster
        return storage.delete_account(user), store.account_names()

    def deleted(answer: tuple[bool, list[str]]) -> None:
        gone, names = answer
        if not gone:
            raise CommandError("no_such_user", "your account is already gone")
        community = host.community
        persist, community.persist = community.persist, None  # its rows went with it
        try:
            community.forget_user(user)
        finally:
            community.persist = persist
        if storage.on_change is not None:  # the other nodes read the community again
            storage.on_change()
        from gameserver.lookalike import LookalikeIndex

        hub.lookalikes = LookalikeIndex(names)  # its look-alikes are free too
        hub.store.drop_tokens(user)
        host.away.pop(key, None)
        hub.send(session, Ok(id=message.id, text=f"the account {user} is deleted"))
        hub.kick(session, f"the account {user} is deleted; goodbye", "quit",
                 "deleted their account")

    # What it said up to now is stored before its name is taken off (else refused).
    hub.after_commit(lambda: host.ask(session, message.id, delete, deleted),
                     hub.refuse(session, message.id))


def ignores_notice(host: CommunityHost, session: Session) -> None:
    """At login: the client hides what those it ignores say."""
    if session.user is not None:
        ignored = host.hub.ignoring.names(session)  # read at login (CommunityHost.load_ignores)
        if ignored:
            host.hub.send(session, Ok(data={"ignores": ignored}))
            host.hub.send(session, Notice(text=f"you ignore {', '.join(ignored)}"))
