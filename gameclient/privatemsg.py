"""End-to-end PMs in a live client: publish the device key, seal /msg, open what arrives.

Sits on a ClientConnection: `incoming` turns each sealed PM (live, queued, or in a
/history page) into what the model shows, and `outgoing` takes over the commands
that need keys (/msg, /key, /whois, /trust). Key warnings go into the chat as
KeyAlert events; sending is never blocked by them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from gameclient.commands import Typed
from gameclient.connection import ConnectionFailed
from gameclient.e2e import DeviceKeyring, E2EError, Opened, Tampered, open_envelope, seal
from gameclient.pmevents import PLAIN_MARK, KeyAlert, OpenedPM, pm_mark
from gameclient.textwidth import sanitize
from gameclient.trust import Contacts, KeyChange
from gameserver.protocol import (
    Command,
    Error,
    HistoryPage,
    Message,
    Notice,
    Ok,
    PrivateMessage,
    ProtocolError,
    Say,
)
from gameserver.protocol_e2e import b64decode, fingerprint

if TYPE_CHECKING:
    from pathlib import Path

    from gameclient.connection import ClientConnection, PasswordSource

log = logging.getLogger("play.e2e")
# Every way to send a PM is sealed here, never sent as plain text to the server.
# A PM is stored as it is sent: one sealed much earlier (beyond clock skew) was sent again.
REPLAY_SLACK = 600.0
TAKEN_OVER = frozenset({"msg", "query", "r", "key", "keys", "whois", "trust"})


def short(key: str) -> str:
    """A key's fingerprint, for a line in the chat."""
    return fingerprint(b64decode(key))


class PrivateMessages:
    """One account's end-to-end PMs on one connection."""

    def __init__(self, conn: ClientConnection, ring: DeviceKeyring, *, made_now: bool = False
                 ) -> None:
        self.conn = conn
        self.ring = ring
        self.contacts = Contacts.beside(ring.path)
        self.made_now = made_now
        self.published = False
        self._keys: dict[str, tuple[str, dict[str, str]]] = {}  # user key -> (name, key->device)
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: asyncio.Task[None] | None = None  # the latest queued send, for ordering
        self.last_from: str | None = None  # who sent the last PM this client got (/r)
        self.names: dict[str, str] = {}  # a name as typed (a nick) -> its username

    @property
    def me(self) -> str:
        return self.ring.user

    # ------------------------------------------------------------ events to the model

    def emit(self, message: Any) -> None:
        self.conn.events.put_nowait(message)

    def alert(self, change: KeyChange | None, conversation: bool = False) -> None:
        """Say what changed about a contact's keys: quiet for a first contact, loud otherwise.

        A first contact met in a PM (`conversation`) is told in that PM's pane; a loud
        change where you are looking."""
        if change is None:
            return
        user = change.user
        own = user.casefold() == self.me.casefold()
        mine = set(self.ring.publics)
        new = [k for k in change.new if k not in mine]
        if change.first_contact:
            if new:
                prints = "; ".join(short(k) for k in new)
                keys = f"{len(new)} device key{'s' if len(new) != 1 else ''} ({prints})"
                text = (f"* your account's other devices: remembered {keys}" if own else
                        f"* first end-to-end contact with {user}: remembered {keys}; "
                        f"compare with {user} out of band: /key {user}")
                self.emit(KeyAlert(user=user, unverified=False, loud=False, text=text,
                                   where=f"@{user}" if conversation and not own else None))
            return
        if not new and not change.gone:
            return
        whose = "YOUR account" if own else user
        parts = []
        if new:
            parts.append(f"{len(new)} NEW device key{'s' if len(new) != 1 else ''} "
                         f"({'; '.join(short(k) for k in new)})")
        if change.gone:
            parts.append(f"{len(change.gone)} key{'s' if len(change.gone) != 1 else ''} "
                         "no longer listed")
        self.emit(KeyAlert(user=user, unverified=bool(self.contacts.untrusted(user)), text=(
            f"!! {whose} has {' and '.join(parts)}. If {'you' if own else user} did not add a "
            f"device, someone may be reading along: compare fingerprints out of band "
            f"(/key {user}), then /trust {user}. Messages still go through.")))

    # ------------------------------------------------------------ incoming

    def incoming(self, message: Message) -> list[Any]:
        """What the model should get for one server message (sealed PMs opened)."""
        if isinstance(message, PrivateMessage):
            if message.sender.casefold() != self.me.casefold():
                self.last_from = message.sender  # for /r
            if message.e2e is not None:
                return [self._open_pm(message)]
        if isinstance(message, HistoryPage) and message.kind == "history":
            entries = [self._open_entry(e) for e in message.entries]
            return [HistoryPage(kind=message.kind, entries=entries, page=message.page,
                                last=message.last, id=message.id, room=message.room)]
        return [message]

    def _open(self, envelope: str, sender: str, to: str,
              conversation: bool = False) -> tuple[Opened, bool]:
        """Open and check an envelope against who the server says sent it; (opened, new key).
        `conversation`: a live PM, whose pane a first contact's notice goes to."""
        opened = open_envelope(self.ring, envelope)
        if (opened.sender.casefold(), opened.to.casefold()) != (sender.casefold(), to.casefold()):
            raise Tampered(f"it says it is from {opened.sender} to {opened.to}, but it came as "
                           f"{sender} to {to}")
        self.alert(self.contacts.observe(sender, opened.sender_key), conversation)
        return opened, not self.contacts.trusted(sender, opened.sender_key)

    def _open_pm(self, pm: PrivateMessage) -> OpenedPM:
        assert pm.e2e is not None
        try:
            opened, new_key = self._open(pm.e2e, pm.sender, pm.to, conversation=True)
        except E2EError as exc:
            return OpenedPM(sender=pm.sender, to=pm.to, ts=pm.ts, queued=pm.queued,
                            problem=_refusal(exc))
        return OpenedPM(sender=pm.sender, to=pm.to, ts=pm.ts, queued=pm.queued,
                        text=sanitize(opened.text).strip(), new_key=new_key,
                        sealed_at=_replayed(opened, pm.ts))

    def _open_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        if entry.get("type") != "PM":
            return entry
        envelope = entry.get("e2e")
        out = {k: v for k, v in entry.items() if k != "e2e"}
        if not isinstance(envelope, str):
            out["mark"] = PLAIN_MARK
            return out
        sender, to = str(entry.get("sender", "")), str(entry.get("receiver", ""))
        try:
            opened, new_key = self._open(envelope, sender, to)
        except E2EError as exc:
            out["text"] = f"({_refusal(exc)})"
            return out
        out["text"] = sanitize(opened.text).strip()
        out["mark"] = pm_mark(new_key, sender, _replayed(opened, entry.get("ts")))
        return out

    # ------------------------------------------------------------ outgoing

    async def start(self) -> None:
        """After login: publish this device's key, and check my own account's keys."""
        if self.made_now:
            self.emit(Notice(text=(
                f"a key for end-to-end PMs was made for this device: {self.ring.fingerprint} "
                f"(kept in {self.ring.path})")))
        await self.publish()
        try:
            await self.fetch([self.me])
        except (ProtocolError, E2EError) as exc:
            log.info("own keys not fetched: %s", exc)

    async def publish(self) -> None:
        for key in self.ring.publics[::-1]:  # older (imported-over) keys first, current last
            msg_id = self.conn.new_id()
            device = self.ring.device.replace(" ", "_")
            try:
                await self.conn.request(Command(id=msg_id, name="devicekey",
                                                args=f"{key} {device}"), msg_id)
            except ProtocolError as exc:
                self.emit(Notice(kind="warn", text=(
                    f"this device's key could not be published ({exc.message}); PMs you send "
                    "from here go without end-to-end encryption")))
                return
        self.published = True

    def outgoing(self, typed: Typed, secret: str | None = None) -> int | None:
        """Take over a command that needs keys; its id, or None to send it as it is.

        What is typed goes out in the order it was typed: while a sealed PM is still
        being made (its keys fetched), later lines wait behind it, /quit included.
        """
        target, _, text = typed.args.partition(" ")
        if typed.name == "r":  # a reply goes to whoever sent the last PM this client got
            target, text = self.last_from or "", typed.args
            if not self.last_from and typed.args.strip():
                msg_id = self.conn.new_id()
                self.emit(Error(code="nobody", id=msg_id,
                                text="nobody has sent you a private message yet"))
                return msg_id
        pm = typed.name in ("msg", "query", "r")
        usable = bool(target) and not (pm and not text.strip())
        busy = self._last is not None and not self._last.done()
        if not (typed.name in TAKEN_OVER and usable) and not busy:
            return None
        msg_id = self.conn.new_id()
        if not (typed.name in TAKEN_OVER and usable):
            work: Coroutine[Any, Any, None] = self._send_later(msg_id, typed, secret)
        elif pm:
            work = self.send_pm(msg_id, target, text.strip())
        elif typed.name == "whois":
            work = self.whois(msg_id, typed.args.strip())
        elif typed.name == "trust":
            work = self.trust(msg_id, target)
        else:
            work = self.show_keys(msg_id, target)
        self._last = task = asyncio.ensure_future(self._after(self._last, work, msg_id))
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return msg_id

    async def _after(self, previous: asyncio.Task[None] | None,
                     work: Coroutine[Any, Any, None], msg_id: int) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        try:
            await work
        except ConnectionFailed:
            pass  # the connection's reader says so, once, to the user
        except ProtocolError as exc:
            self.emit(Error(code=exc.code, text=exc.message, id=msg_id))
        except E2EError as exc:
            self.emit(Error(code="e2e", text=str(exc), id=msg_id))

    async def _send_later(self, msg_id: int, typed: Typed, secret: str | None) -> None:
        if typed.name is None:
            self.conn.send(Say(id=msg_id, text=typed.text))
        else:
            self.conn.send(Command(id=msg_id, name=typed.name, args=typed.args, secret=secret))

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("end-to-end work failed: %r", task.exception())

    async def fetch(self, users: list[str],
                    conversation: bool = False) -> dict[str, dict[str, str]]:
        """The device keys of `users` as the server has them (username -> key -> device).

        A name may be a nick in my room, as /msg takes it: `self.names` maps it to its user.
        `conversation`: asked to send a PM (a first contact is told in its pane).
        """
        msg_id = self.conn.new_id()
        reply = await self.conn.request(Command(id=msg_id, name="keys", args=" ".join(users)),
                                        msg_id)
        for asked, user in ((reply.data or {}).get("names") or {}).items():
            self.names[str(asked).casefold()] = str(user)
        found: dict[str, dict[str, str]] = {}
        for name, items in ((reply.data or {}).get("keys") or {}).items():
            keys = {str(i["key"]): str(i.get("device", "?")) for i in items
                    if isinstance(i, dict) and len(b64decode(str(i["key"]))) == 32}
            found[str(name)] = keys
            self._keys[str(name).casefold()] = (str(name), keys)
            self.alert(self.contacts.learn(str(name), keys), conversation)
        return found

    def _canonical(self, found: dict[str, dict[str, str]], user: str) -> str:
        name = self.names.get(user.casefold(), user)
        for known in found:
            if known.casefold() == name.casefold():
                return known
        raise E2EError(f"the server sent no keys for {user}")

    async def send_pm(self, msg_id: int, target: str, text: str) -> None:
        """/msg USER TEXT: sealed to every device of both; plain (and said so) if USER has none."""
        target = target.lstrip("@")
        cached = self._keys.get(self.names.get(target.casefold(), target).casefold())
        mine = self._keys.get(self.me.casefold())
        if cached is None or mine is None:
            found = await self.fetch([target, self.me], conversation=True)
            cached = (self._canonical(found, target), found[self._canonical(found, target)])
            mine = self._keys[self.me.casefold()]
        to, theirs = cached
        if not theirs or not self.published:
            why = (f"{to} has no device key yet (never used the play client?)" if not theirs
                   else "this device's key is not published")
            self.emit(Notice(kind="warn", text=f"{why}: this PM goes {PLAIN_MARK}"))
            reply = await self.conn.request(Command(id=msg_id, name="msg", args=f"{to} {text}"),
                                            msg_id)
            self.emit(reply)
            return
        for attempt in (1, 2, 3):
            recipients = [*theirs, *mine[1], *self.ring.publics[:1]]
            envelope = seal(self.ring, self.me, to, text, recipients)
            send_id = msg_id if attempt == 1 else self.conn.new_id()
            try:
                reply = await self.conn.request(
                    Command(id=send_id, name="emsg", args=f"{to} {envelope}"), send_id)
                break
            except ProtocolError as exc:
                if attempt == 3 or exc.code not in ("keys_changed", "unknown_key"):
                    raise
                if exc.code == "unknown_key":
                    await self.publish()
                found = await self.fetch([to, self.me], conversation=True)
                theirs, mine = found[self._canonical(found, to)], self._keys[self.me.casefold()]
        data = reply.data or {}
        how = "delivered" if data.get("delivered") else \
            f"{to} is offline; queued for their next login"
        untrusted = [u for u in (to, self.me) if self.contacts.untrusted(u)]
        warn = f"; sealed to untrusted new keys of {', '.join(untrusted)}" if untrusted else ""
        self.emit(Ok(id=msg_id, text=f"-> {to}: {text}  ({how})  [e2e{warn}]", data=data))

    async def show_keys(self, msg_id: int, target: str) -> None:
        """/key USER (or /whois): fingerprints to compare out of band, and what is trusted."""
        found = await self.fetch([target.lstrip("@")])
        user = self._canonical(found, target.lstrip("@"))
        lines = []
        for key, device in found[user].items():
            if key in self.ring.publics:
                state = "this device"
            elif self.contacts.trusted(user, key):
                state = "trusted"
            else:
                state = f"NEW, not trusted yet: /trust {user}"
            lines.append(f"{short(key)}  {sanitize(device)}  ({state})")
        if not lines:
            lines.append("no device key: PMs to them go " + PLAIN_MARK)
        own = user.casefold() == self.me.casefold()
        self.emit(Ok(id=msg_id, lines=lines, text=(
            f"device keys of {user}" + (" (yours)" if own else "") +
            f"; compare these with {user} in person or on a call:")))

    async def whois(self, msg_id: int, target: str) -> None:
        """/whois: what the server says of them, then their device keys to compare."""
        reply = await self.conn.request(Command(id=msg_id, name="whois", args=target), msg_id)
        self.emit(reply)
        user = ((reply.data or {}).get("whois") or {}).get("user")
        if not user:
            return
        try:  # the keys are an extra beside the answer: a failed look-up is no error of /whois
            await self.show_keys(self.conn.new_id(), f"@{user}")
        except (ProtocolError, E2EError) as exc:
            log.info("keys of %s not shown after /whois: %s", user, exc)

    async def trust(self, msg_id: int, target: str) -> None:
        """/trust USER: accept every device key USER has now (after comparing fingerprints)."""
        found = await self.fetch([target.lstrip("@")])
        user = self._canonical(found, target.lstrip("@"))
        count = self.contacts.trust(user)
        total = len(found[user])
        self.emit(KeyAlert(user=user, unverified=False, loud=False, text=(
            f"* you trust {user}'s {total} device key{'s' if total != 1 else ''}"
            + (f" ({count} newly)" if count else " (nothing was new)"))))
        self.emit(Ok(id=msg_id))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _replayed(opened: Opened, stored: Any) -> float | None:
    """When it was sealed, if that was long before the server stored it (a replay?)."""
    if isinstance(stored, (int, float)) and abs(stored - opened.sent) > REPLAY_SLACK:
        return opened.sent
    return None


def _refusal(exc: E2EError) -> str:
    """The sentence shown in place of a sealed PM that cannot be shown."""
    if isinstance(exc, Tampered):
        return f"an end-to-end encrypted message was refused: {exc}"
    return f"an end-to-end encrypted message this device cannot read: {exc}"


async def connect(host: str, port: int, user: str, ask_password: PasswordSource,
                  keys_dir: Path | None, *,
                  opened: Callable[[ClientConnection], None] | None = None,
                  opener: Callable[[], Awaitable[ClientConnection]] | None = None,
                  **how: Any) -> tuple[ClientConnection, Ok]:
    """Connect and log in, with this device's keys unless `keys_dir` is None.

    `how` goes to ClientConnection.open (TLS, pins), or `opener()` connects (several
    addresses tried in turn); `opened(conn)` runs once connected.

    The keys are ready before the login, so the PMs that waited are opened as they
    arrive; a key made now is saved (0600) only once the login worked.
    """
    from gameclient.connection import ClientConnection, LoginFailed, log_in
    from gameclient.e2e import server_label

    ring = made = None
    if keys_dir is not None:
        ring, made = DeviceKeyring.load_or_new(keys_dir, server_label(host, port), user)
    conn = await (opener() if opener is not None else ClientConnection.open(host, port, **how))
    if opened is not None:
        opened(conn)
    pms = conn.e2e = PrivateMessages(conn, ring, made_now=bool(made)) if ring is not None else None
    try:
        reply = await log_in(conn, user, ask_password)
        if ring is not None and pms is not None:
            ring.user = str((reply.data or {}).get("user", user))
            if made:
                ring.save()
            await pms.start()
    except (LoginFailed, ConnectionFailed, ProtocolError):
        await conn.close()
        raise
    return conn, reply
