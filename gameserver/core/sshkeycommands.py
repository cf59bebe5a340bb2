"""/sshkey add|list|remove: the SSH public keys an account logs in with through the SSH door."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gameserver.core.commands import CommandError, CommandSet
from gameserver.core.pending import Work
from gameserver.core.rooms import Session
from gameserver.protocol import Command, Ok
from gameserver.sshkeys import MAX_KEYS, BadKey, SSHKey, parse_key
from gameserver.store import StorageError

if TYPE_CHECKING:
    from gameserver.core.hub import Hub

USAGE = "usage: /sshkey add KEY, /sshkey list, /sshkey remove N"


@dataclass
class SSHKeys:
    """What the commands work on: the hub (for replies) and the accounts' key table."""

    hub: Hub
    table: Any  # gameserver.sshkeys.SSHKeyStore (or its PostgreSQL twin)


COMMANDS: CommandSet[SSHKeys] = CommandSet()


def describe(n: int, key: SSHKey) -> str:
    added = time.strftime("%Y-%m-%d", time.localtime(key.added)) if key.added else "?"
    comment = f"  {key.comment}" if key.comment else ""
    return f"{n}. {key.kind} {key.fingerprint}{comment}  (added {added})"


def _listing(keys: list[SSHKey]) -> dict[str, Any]:
    return {"ssh_keys": [{"n": n, "type": k.kind, "fingerprint": k.fingerprint,
                          "comment": k.comment, "added": k.added}
                         for n, k in enumerate(keys, start=1)]}


@COMMANDS.command("sshkey", "/sshkey add KEY | list | remove N",
                  "the SSH keys you log in with (ssh -p PORT you@host); not the /key of PMs",
                  aliases=("sshkeys",))
def sshkey(ssh: SSHKeys, session: Session, message: Command) -> None:
    user = session.user
    assert user is not None
    if session.guest:
        raise CommandError("guest", "guests have no account to put an SSH key on")
    verb, _, rest = message.args.strip().partition(" ")
    verb = verb.lower() or "list"
    rest = rest.strip()
    table = ssh.table
    if verb in ("list", "ls"):
        _in_store(ssh, session, message, lambda: _list(table, user, message.id))
    elif verb == "add":
        if not rest:
            raise CommandError("usage", "usage: /sshkey add KEY, where KEY is the whole line "
                                        "of your ~/.ssh/id_ed25519.pub (or id_rsa.pub)")
        try:
            key = parse_key(rest)
        except BadKey as exc:
            raise CommandError("bad_key", str(exc)) from None
        _in_store(ssh, session, message, lambda: _add(table, user, key, message.id))
    elif verb in ("remove", "rm", "delete", "del"):
        _in_store(ssh, session, message, lambda: _remove(table, user, rest, message.id))
    else:
        raise CommandError("usage", USAGE)


def _in_store(ssh: SSHKeys, session: Session, message: Command, work: Callable[[], Ok]) -> None:
    """Run `work` as the hub's store work (a store thread on a cluster), then send its ok;
    a CommandError or StorageError raised in it becomes the reply."""
    hub = ssh.hub
    answer = hub.guarded(session, message.id, lambda ok: hub.send(session, ok))

    def run() -> Any:
        try:
            return work()
        except Exception as exc:  # noqa: BLE001 - handed to the loop, said there
            return exc

    def done(result: Any) -> None:
        if isinstance(result, Exception):
            answer.failed(result)  # type: ignore[attr-defined]
        else:
            answer(result)

    hub.run_store(Work(run=run, done=done, cancelled=lambda: done(
        StorageError("the server is shutting down"))))


def _list(table: Any, user: str, msg_id: int | None) -> Ok:
    keys = table.keys(user)
    if not keys:
        text = ("your account has no SSH key; /sshkey add KEY (the line of your "
                "~/.ssh/id_ed25519.pub) lets `ssh` log you in without a password")
        return Ok(id=msg_id, text=text, data=_listing(keys))
    return Ok(id=msg_id, text=f"your SSH keys ({len(keys)}):",
              lines=[describe(n, k) for n, k in enumerate(keys, start=1)], data=_listing(keys))


def _add(table: Any, user: str, key: SSHKey, msg_id: int | None) -> Ok:
    keys = table.keys(user)
    if any(k.key == key.key for k in keys):
        raise CommandError("known_key", f"that key ({key.fingerprint}) is already on your "
                                        "account")
    if len(keys) >= MAX_KEYS:
        raise CommandError("too_many_keys", f"your account has {MAX_KEYS} SSH keys already;"
                                            " /sshkey remove N one first")
    holder = table.add(user, key)
    if holder is not None:
        raise CommandError("key_taken", (
            f"that key ({key.fingerprint}) already logs in to another account; a key can "
            "belong to one account only (make another with ssh-keygen -t ed25519)"))
    keys = table.keys(user)
    return Ok(id=msg_id, text=(
        f"SSH key {key.fingerprint} added: `ssh` with it now logs you in as {user} "
        f"without a password ({len(keys)} key{'s' if len(keys) != 1 else ''})"),
        data=_listing(keys))


def _remove(table: Any, user: str, which: str, msg_id: int | None) -> Ok:
    keys = table.keys(user)
    chosen = _pick(keys, which)
    table.remove(user, chosen.key)
    left = table.keys(user)
    return Ok(id=msg_id, text=(
        f"SSH key {chosen.fingerprint} removed; {len(left) or 'no'} key"
        f"{'s' if len(left) != 1 else ''} left"), data=_listing(left))


def _pick(keys: list[SSHKey], which: str) -> SSHKey:
    """The key a /sshkey remove names: its number in /sshkey list, or its fingerprint."""
    if not which:
        raise CommandError("usage", "usage: /sshkey remove N (the number /sshkey list shows)")
    if which.isdigit():
        n = int(which)
        if 1 <= n <= len(keys):
            return keys[n - 1]
        raise CommandError("no_such_key", (
            f"you have no SSH key number {n}; /sshkey list shows "
            f"{len(keys) or 'no'} key{'s' if len(keys) != 1 else ''}"))
    for key in keys:
        if key.fingerprint in (which, f"SHA256:{which}"):
            return key
    raise CommandError("no_such_key", f"none of your SSH keys is {which!r}; /sshkey list")
