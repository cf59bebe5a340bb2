"""The chat commands (/help, /join, /msg, /all, /history ...): module-level handlers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gameserver import names
from gameserver.core import logins, turns
from gameserver.core.commands import CommandError, CommandSet, checked, clean_message
from gameserver.core.rooms import Room, Session
from gameserver.protocol import Broadcast, Command, Ok, PrivateMessage, Renamed
from gameserver.protocol_e2e import SEALED_TEXT
from gameserver.store import EVERYONE, SEALED_PM, Entry, NewEntry

if TYPE_CHECKING:
    from gameserver.core.hub import Hub

HISTORY_DEFAULT = 20
HISTORY_MAX = 10_000

COMMANDS: CommandSet[Hub] = CommandSet()
command = COMMANDS.command


def usage_error(hub: Hub, message: Command) -> CommandError:
    spec = hub.commands[message.name.lower()]
    return CommandError("usage", f"usage: {spec.usage}")


@command("help", "/help [COMMAND]", "this list of commands, or what one of them does")
def help_(hub: Hub, session: Session, message: Command) -> None:
    topic = message.args.strip().lstrip("/").lower()
    if topic:
        spec = hub.commands.get(topic)
        if spec is None:
            raise CommandError("unknown_command",
                               f"there is no command /{topic}; /help lists them all")
        see = [f"also {', '.join('/' + a for a in spec.aliases)}"] if spec.aliases else []
        hub.send(session, Ok(id=message.id, text=f"usage: {spec.usage}",
                             lines=[spec.help, *see]))
        return
    seen, lines = set(), []
    for spec in hub.commands.values():
        if id(spec) in seen:
            continue
        seen.add(id(spec))
        also = f" (also {', '.join('/' + a for a in spec.aliases)})" if spec.aliases else ""
        lines.append(f"{spec.usage:<28} {spec.help}{also}")
    lines.append("anything else you type is said to your room; /help COMMAND tells more")
    hub.send(session, Ok(id=message.id, text="commands:", lines=lines))


@command("list", "/list", "rooms and how many are in each")
def list_(hub: Hub, session: Session, message: Command) -> None:
    rooms = sorted(hub.rooms.values(), key=lambda r: (-len(r.members), r.name))
    lines = [f"#{r.name}  {len(r.members)} member{'s' if len(r.members) != 1 else ''}"
             for r in rooms]
    plural = "s" if len(rooms) != 1 else ""
    data: dict[str, object] = {"rooms": {r.name: len(r.members) for r in rooms}}
    if hub.community is not None:  # what the owners and ops decided: topic, invite-only, slow
        data["rules"] = hub.community.room_rules([r.name for r in rooms])
    hub.send(session, Ok(id=message.id, text=f"{len(rooms)} room{plural}:", lines=lines,
                         data=data))


def room_arg(hub: Hub, session: Session, name: str) -> Room:
    """One of the session's rooms by name, or the one it looks at when `name` is empty."""
    if not name.strip():
        if session.room is None:
            raise CommandError("no_room", "you are not in a room; /join one")
        return session.room
    return hub.look_at(session, name.strip())


@command("join", "/join ROOM", "join one more room (created if new); you stay in the others")
def join(hub: Hub, session: Session, message: Command) -> None:
    if not message.args.strip():
        raise usage_error(hub, message)

    def joined(room: Room) -> None:
        logins.remember_place(hub, session)
        count = session.room_count()
        also = f" (and {count - 1} other room{'s' if count > 2 else ''})" if count > 1 else ""
        hub.send(session, Ok(id=message.id, text=f"you are now in #{room.name}{also}",
                             data={"room": room.name, "rooms": session.room_names()}))

    hub.join_room(session, message.args.strip(), then=joined, msg_id=message.id)


@command("part", "/part [ROOM]", "leave a room (default: this one); you keep at least one")
def part(hub: Hub, session: Session, message: Command) -> None:
    room = room_arg(hub, session, message.args)
    hub.part_room(session, room)
    logins.remember_place(hub, session)
    rest = ", ".join(f"#{name}" for name in session.room_names())
    hub.send(session, Ok(id=message.id, text=f"you left #{room.name}; you are in {rest}",
                         data={"room": room.name, "rooms": session.room_names()}))


@command("rooms", "/rooms", "the rooms you are in")
def rooms(hub: Hub, session: Session, message: Command) -> None:
    mine = [{"room": room.name, "nick": session.nick_in(room.name),
             "members": len(room.members)} for room in session.joined()]
    lines = [f"#{r['room']}  as {r['nick']}, {r['members']} here" for r in mine]
    hub.send(session, Ok(id=message.id, text=f"you are in {len(mine)} room"
                                             f"{'s' if len(mine) != 1 else ''}:", lines=lines,
                         data={"mine": mine, "looking_at": session.room.name
                               if session.room is not None else None}))


@command("nick", "/nick NAME [ROOM]", "your name in this room (or in ROOM)")
def nick(hub: Hub, session: Session, message: Command) -> None:
    words = message.args.split()
    if not words or len(words) > 2:
        raise usage_error(hub, message)
    new = checked(names.check_nick, words[0])
    room = room_arg(hub, session, words[1] if len(words) == 2 else "")
    assert session.user is not None
    user = session.user
    holder = room.members.get(names.key(new))
    if holder is not None and holder is not session:
        raise CommandError("nick_taken", f"the nick {new} is taken in #{room.name}")
    if new == session.nick_in(room.name):
        raise CommandError("same_nick", f"your nick in #{room.name} is already {new}")
    if new.casefold() != user.casefold() and (
            names.key(new) in hub.reserved_names or logins.is_guest_name(new)):
        raise CommandError("reserved", f"the nick {new} is reserved (the server's speakers and"
                                       " the classic door's guests); choose another")

    def claim(owner: tuple[str, str] | None) -> None:
        if owner is not None and owner[0].casefold() != user.casefold():
            raise CommandError("nick_taken", f"{new} is another user's name; choose another nick")
        logins.check_nick_lookalike(hub, session, new, room)
        # A cluster: the store holds each room's nicks, so two nodes never both give one.
        hub.lookups.claim_nick(room.name, names.key(new), user).then(
            hub.guarded(session, message.id, rename))

    def rename(claimed: bool | None) -> None:
        if claimed is False:
            raise CommandError("nick_taken", f"the nick {new} is taken in #{room.name}")
        if not session.in_room(room.name):
            raise CommandError("moved", f"you left #{room.name} before the nick was checked")
        holder = room.members.get(names.key(new))
        # None: one process, whose members are the truth. True: the cluster's store gave
        # it to us; a holder here is a mirror a moment behind (its own claim fails).
        if claimed is None and holder is not None and holder is not session:
            raise CommandError("nick_taken", f"the nick {new} is taken in #{room.name}")
        old = session.nick_in(room.name)
        if room.members.get(names.key(old)) is session:
            del room.members[names.key(old)]
        room.members[names.kept_key(new)] = session
        session.rename_in(room.name, new)
        hub.presence.tell(room, Renamed(room=room.name, old=old, new=new, user=user))
        logins.remember_place(hub, session)
        hub.send(session, Ok(id=message.id, text=f"your nick in #{room.name} is now {new}",
                             data={"room": room.name, "nick": new}))

    hub.lookups.account_hash(new).then(hub.guarded(session, message.id, claim))


@command("who", "/who [ROOM]", "who is in this room (or ROOM, if you are in it)")
def who(hub: Hub, session: Session, message: Command) -> None:
    room = room_arg(hub, session, message.args)
    members = sorted(room.roster(), key=lambda m: m[0].casefold())
    lines = [nick if nick == user else f"{nick} ({user})" for nick, user in members]
    if hub.community is not None:  # roles: [op], [owner], [admin]
        lines = [line + hub.community.role_mark(user, room.name)
                 for line, (_, user) in zip(lines, members, strict=True)]
    away = hub.community.away if hub.community is not None else {}
    hub.send(session, Ok(id=message.id, text=f"{len(lines)} in #{room.name}:", lines=lines,
                         data={"room": room.name,
                               "members": [{"nick": n, "user": u}
                                           | ({"away": True} if u.casefold() in away else {})
                                           for n, u in members]}))


@command("users", "/users", "everyone online and their rooms")
def users(hub: Hub, session: Session, message: Command) -> None:
    people = sorted(hub.online.values(), key=lambda s: (s.user or "").casefold())
    width = max((len(s.user or "") for s in people), default=0)
    lines = [f"{s.user or '':<{width}}  in {' '.join('#' + r for r in s.room_names()) or '-'}"
             for s in people]
    hub.send(session, Ok(id=message.id, text=f"{len(lines)} online:", lines=lines,
                         data={"users": {s.user: s.room.name if s.room else None
                                         for s in people},
                               "rooms": {s.user: s.room_names() for s in people}}))


ACCOUNTS_SHOWN = 200  # names one /accounts answer holds at most (Tab asks with a prefix)


@command("accounts", "/accounts [PREFIX]",
         "the accounts (online or not) whose name starts with PREFIX; Tab uses it")
def accounts(hub: Hub, session: Session, message: Command) -> None:
    prefix = message.args.strip().lstrip("@")
    if " " in prefix or len(prefix) > names.NICK_MAX:
        raise usage_error(hub, message)

    def show(found: list[str]) -> None:
        more = len(found) > ACCOUNTS_SHOWN
        found = found[:ACCOUNTS_SHOWN]
        what = f" starting with {prefix!r}" if prefix else ""
        if not found:
            text = f"no account{what}"
        else:
            text = f"{len(found)} account{'s' if len(found) != 1 else ''}{what}"
            text += " (the first ones; type more letters):" if more else ":"
        hub.send(session, Ok(id=message.id, text=text,
                             lines=[", ".join(found)] if found else None,
                             data={"accounts": found, "more": more}))

    hub.lookups.account_names_from(prefix, ACCOUNTS_SHOWN + 1).then(
        hub.guarded(session, message.id, show))


@command("msg", "/msg NICK|USER TEXT", "private message (queued if offline)")
def msg(hub: Hub, session: Session, message: Command) -> None:
    target, _, text = message.args.strip().partition(" ")
    if not target or not text.strip():
        raise usage_error(hub, message)
    text = clean_message(text)
    sender = session.user
    assert sender is not None
    room = session.room
    present = room.members.get(names.key(target)) if room and target[0] != "@" else None
    if present is not None and present.user is not None:  # a nick in your room (as Tab gives)
        send_pm(hub, session, message.id, present.user, text)
        return
    target = checked(names.check_username, target.lstrip("@"))

    def send(account: tuple[str, str] | None) -> None:
        if account is None:
            where = f" or nick in #{room.name}" if room is not None else ""
            raise CommandError("no_such_user", f"there is no user{where} called {target}")
        send_pm(hub, session, message.id, account[0], text)

    hub.lookups.account_hash(target).then(hub.guarded(session, message.id, send))


def send_pm(hub: Hub, session: Session, msg_id: int, to: str, text: str, *,
            sealed: str | None = None) -> None:
    """Store a PM to the account `to`, deliver it (or queue it), confirm to the sender.

    `sealed`: an end-to-end envelope (core/sealedpm.py) stored and relayed instead of
    `text`, which then only names it in the sender's confirmation.
    """
    sender = session.user
    assert sender is not None
    queued = hub.session_of(to) is None
    mark = "" if sealed is not None else "; not end-to-end encrypted"

    def deliver(entry: NewEntry) -> None:
        receiver = None if queued else hub.session_of(to)
        pm = pm_of_entry(entry)
        if receiver is not None:
            # On another node: that node says whether it reached them (they may have
            # gone in the instant before); until then the sender's next requests wait.
            release = turns.hold(hub, session)
            if any(ext.on_private_message(receiver, pm, lambda delivered: settled(
                    entry, pm, delivered, release)) for ext in hub.extensions):
                return
            release()
            if not hub.ignoring.hides(receiver, sender):  # ignored: kept, not shown (silently)
                hub.send(receiver, pm)
        settled(entry, pm, receiver is not None, _nothing)

    def settled(entry: NewEntry, pm: PrivateMessage, delivered: bool,
                then: Callable[[], None]) -> None:
        """Confirmed means stored: a PM that did not reach them is queued, then confirmed."""
        if not delivered and not queued:  # they left between sending and storing
            hub.store.queue_pm(entry, to)
            refuse = hub.refuse(session, msg_id)
            def stored() -> None:
                confirm(pm, False)
                then()

            def refused() -> None:
                refuse()
                then()

            hub.after_commit(stored, refused)
        else:
            confirm(pm, delivered)
            then()

    def confirm(pm: PrivateMessage, delivered: bool) -> None:
        if delivered:
            note = f"-> {to}: {text}  (delivered{mark})"
        else:
            note = f"-> {to}: {text}  ({to} is offline; queued for their next login{mark})"
        away = hub.community.pm_sent(session, to) if hub.community is not None else None
        # The sender has the envelope already: a sealed PM's confirmation names it only.
        wire = {k: v for k, v in pm.to_wire().items() if k != "e2e"}
        hub.send(session, Ok(id=msg_id, text=note, lines=[away] if away else None,
                             data={"pm": wire, "delivered": delivered}))

    hub.record(SEALED_PM if sealed is not None else "PM", sender, to,
               sealed if sealed is not None else text, deliver,
               refused=hub.refuse(session, msg_id), queue_for=to if queued else None)


def pm_of_entry(entry: Entry | NewEntry, queued: bool = False) -> PrivateMessage:
    """The pm event of a stored PM, sealed (end-to-end) or plain."""
    if entry.type == SEALED_PM:
        return PrivateMessage(sender=entry.sender, to=entry.receiver, text=SEALED_TEXT,
                              ts=entry.ts, queued=queued, e2e=entry.text)
    return PrivateMessage(sender=entry.sender, to=entry.receiver, text=entry.text,
                          ts=entry.ts, queued=queued)


@command("all", "/all TEXT", "broadcast to everyone online")
def all_(hub: Hub, session: Session, message: Command) -> None:
    if not message.args.strip():
        raise usage_error(hub, message)
    text = clean_message(message.args)
    sender = session.user
    assert sender is not None

    def deliver(entry: NewEntry) -> None:
        hub.deliver_to_all(Broadcast(sender=sender, text=text, ts=entry.ts))
        count = len(hub.online)
        hub.send(session, Ok(id=message.id, text=f"broadcast delivered to {count} user"
                                                 f"{'s' if count != 1 else ''} online"))

    hub.record("BM", sender, EVERYONE, text, deliver, refused=hub.refuse(session, message.id))


@command("history", "/history [ROOM|@USER] [N]", "your last N messages (default 20)")
def history(hub: Hub, session: Session, message: Command) -> None:
    usage = hub.commands["history"].usage
    room = peer = None
    limit = HISTORY_DEFAULT
    for word in message.args.split():
        if word.isascii() and word.lstrip("-").isdigit():
            if word.startswith("-") or not word.strip("0"):
                raise CommandError("usage", f"N must be 1 or more; usage: {usage}")
            # A count of any length is fine: past HISTORY_MAX digits cannot matter.
            limit = HISTORY_MAX if len(word) > 6 else min(int(word), HISTORY_MAX)
        elif word.startswith("@"):
            peer = checked(names.check_username, word[1:])
        elif room is None:
            room = checked(names.check_room, word)
        else:
            raise usage_error(hub, message)
    user = session.user
    assert user is not None

    def show(entries: list[Entry]) -> None:
        hub.send_history(session, "history", entries, msg_id=message.id)

    def with_peer(account: tuple[str, str] | None) -> None:
        if account is None:
            raise CommandError("no_such_user", f"there is no user called {peer}")
        hub.lookups.history(user, limit, room=room, peer=account[0]).then(
            hub.guarded(session, message.id, show))

    if peer is not None:
        hub.lookups.account_hash(peer).then(hub.guarded(session, message.id, with_peer))
    else:
        hub.lookups.history(user, limit, room=room).then(hub.guarded(session, message.id, show))


@command("quit", "/quit", "leave", aliases=("q", "exit", "logout"))
def quit_(hub: Hub, session: Session, message: Command) -> None:
    assert session.user is not None
    hub.store.drop_tokens(session.user)  # logging out ends every resumable session
    # ... stored at once, never in a lazy group commit. If the store keeps failing it is
    # kept queued (retried until stored), and the goodbye says what does not hold yet.
    hub.after_commit(lambda: hub.send(session, Ok(id=message.id, text="goodbye")),
                     lambda: hub.send(session, Ok(id=message.id, text=(
                         "goodbye; the server could not store that you logged out (its storage"
                         " is failing), so a saved session of yours may still resume"))))
    hub.kick(session, "you left", "quit", "quit")


def _nothing() -> None:
    return None
