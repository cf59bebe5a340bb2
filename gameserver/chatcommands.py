"""The chat commands (/help, /join, /msg, /all, /history ...) as hub handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gameserver import names
from gameserver.hub import CommandError, _checked, _clean_message, notice
from gameserver.protocol import Broadcast, Command, Ok, PrivateMessage, Renamed
from gameserver.rooms import Session
from gameserver.store import EVERYONE, NewEntry

if TYPE_CHECKING:
    from gameserver.hub import Hub

HISTORY_DEFAULT = 20
HISTORY_MAX = 10_000


def _usage(hub: Hub, message: Command) -> CommandError:
    spec = hub.commands[message.name.lower()]
    return CommandError("usage", f"usage: {spec.usage}")


def install(hub: Hub) -> None:
    """Register every chat command on the hub."""

    def help_(session: Session, message: Command) -> None:
        seen, lines = set(), []
        for spec in hub.commands.values():
            if id(spec) in seen:
                continue
            seen.add(id(spec))
            also = f" (also {', '.join('/' + a for a in spec.aliases)})" if spec.aliases else ""
            lines.append(f"{spec.usage:<28} {spec.help}{also}")
        lines.append("anything else you type is said to your room")
        hub.send(session, Ok(id=message.id, text="commands:", lines=lines))

    def list_(session: Session, message: Command) -> None:
        rooms = sorted(hub.rooms.values(), key=lambda r: (-len(r.members), r.name))
        lines = [f"#{r.name}  {len(r.members)} member{'s' if len(r.members) != 1 else ''}"
                 for r in rooms]
        plural = "s" if len(rooms) != 1 else ""
        hub.send(session, Ok(id=message.id, text=f"{len(rooms)} room{plural}:", lines=lines,
                             data={"rooms": {r.name: len(r.members) for r in rooms}}))

    def join(session: Session, message: Command) -> None:
        if not message.args.strip():
            raise _usage(hub, message)
        hub.join_room(session, message.args.strip())
        assert session.room is not None
        hub.send(session, Ok(id=message.id, text=f"you are now in #{session.room.name}"))

    def nick(session: Session, message: Command) -> None:
        if not message.args.strip():
            raise _usage(hub, message)
        new = _checked(names.check_nick, message.args)
        room = session.room
        assert room is not None and session.user is not None
        old = session.nick
        holder = room.members.get(names.key(new))
        if holder is not None and holder is not session:
            raise CommandError("nick_taken", f"the nick {new} is taken in #{room.name}")
        if new == old:
            raise CommandError("same_nick", f"your nick is already {new}")
        owner = hub.store.account_hash(new)
        if owner is not None and owner[0].casefold() != session.user.casefold():
            raise CommandError("nick_taken", f"{new} is another user's name; choose another nick")
        hub.check_nick_lookalike(session, new)
        del room.members[names.key(old)]
        room.members[names.key(new)] = session
        session.nick = new
        hub.deliver_to_room(room, Renamed(room=room.name, old=old, new=new, user=session.user))
        hub.send(session, Ok(id=message.id, text=f"your nick is now {new}"))

    def who(session: Session, message: Command) -> None:
        room = session.room
        assert room is not None
        members = sorted(room.members.values(), key=lambda s: s.nick.casefold())
        lines = [s.nick if s.nick == s.user else f"{s.nick} ({s.user})" for s in members]
        hub.send(session, Ok(id=message.id, text=f"{len(lines)} in #{room.name}:", lines=lines,
                             data={"members": [{"nick": s.nick, "user": s.user}
                                               for s in members]}))

    def users(session: Session, message: Command) -> None:
        people = sorted(hub.online.values(), key=lambda s: (s.user or "").casefold())
        lines = [f"{s.user}  in #{s.room.name if s.room else '-'}" for s in people]
        hub.send(session, Ok(id=message.id, text=f"{len(lines)} online:", lines=lines,
                             data={"users": {s.user: s.room.name if s.room else None
                                             for s in people}}))

    def msg(session: Session, message: Command) -> None:
        target, _, text = message.args.strip().partition(" ")
        if not target or not text.strip():
            raise _usage(hub, message)
        text = _clean_message(text)
        target = _checked(names.check_username, target.lstrip("@"))
        account = hub.store.account_hash(target)
        if account is None:
            raise CommandError("no_such_user", f"there is no user called {target}")
        to = account[0]
        sender = session.user
        assert sender is not None

        queued = hub.session_of(to) is None

        def deliver(entry: NewEntry) -> None:
            receiver = None if queued else hub.session_of(to)
            pm = PrivateMessage(sender=sender, to=to, text=text, ts=entry.ts)
            if receiver is not None:
                hub.send(receiver, pm)
                note = f"-> {to}: {text}  (delivered)"
            else:
                if not queued:  # they left between sending and storing: keep it for them
                    hub.store.queue_pm(entry, to)
                    hub.after_commit(lambda: None)
                note = f"-> {to}: {text}  ({to} is offline; queued for their next login)"
            hub.send(session, Ok(id=message.id, text=note,
                                 data={"pm": pm.to_wire(), "delivered": receiver is not None}))

        hub.record("PM", sender, to, text, deliver, refused=hub.refuse(session, message.id),
                   queue_for=to if queued else None)

    def all_(session: Session, message: Command) -> None:
        if not message.args.strip():
            raise _usage(hub, message)
        text = _clean_message(message.args)
        sender = session.user
        assert sender is not None

        def deliver(entry: NewEntry) -> None:
            hub.deliver_to_all(Broadcast(sender=sender, text=text, ts=entry.ts))
            count = len(hub.online)
            hub.send(session, Ok(id=message.id,
                                 text=f"broadcast delivered to {count} user"
                                      f"{'s' if count != 1 else ''} online"))

        hub.record("BM", sender, EVERYONE, text, deliver, refused=hub.refuse(session, message.id))

    def quit_(session: Session, message: Command) -> None:
        assert session.user is not None
        hub.store.drop_tokens(session.user)  # logging out ends every resumable session
        hub.send(session, Ok(id=message.id, text="goodbye"))
        hub.kick(session, "you left", "quit", "quit")

    def history(session: Session, message: Command) -> None:
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
                account = hub.store.account_hash(_checked(names.check_username, word[1:]))
                if account is None:
                    raise CommandError("no_such_user", f"there is no user called {word[1:]}")
                peer = account[0]
            elif room is None:
                room = _checked(names.check_room, word)
            else:
                raise _usage(hub, message)
        assert session.user is not None
        entries = hub.store.history(session.user, limit, room=room, peer=peer)
        hub.send_history(session, "history", entries, msg_id=message.id)

    hub.add_command("help", help_, "/help", "this list of commands")
    hub.add_command("list", list_, "/list", "rooms and how many are in each")
    hub.add_command("join", join, "/join ROOM", "go to a room (created if new)")
    hub.add_command("nick", nick, "/nick NAME", "change the name shown in your room")
    hub.add_command("who", who, "/who", "who is in your room")
    hub.add_command("users", users, "/users", "everyone online and their room")
    hub.add_command("msg", msg, "/msg USER TEXT", "private message (queued if offline)")
    hub.add_command("all", all_, "/all TEXT", "broadcast to everyone online")
    hub.add_command("history", history, "/history [ROOM|@USER] [N]",
                    "your last N messages (default 20)")
    hub.add_command("quit", quit_, "/quit", "leave", aliases=("q", "exit", "logout"))


__all__ = ["install", "notice"]
