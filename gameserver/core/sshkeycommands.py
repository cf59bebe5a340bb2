"""/sshkey add|list|remove: the SSH public keys an account logs in with through the SSH door."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gameserver.core.commands import CommandError, CommandSet
from gameserver.core.rooms import Session
from gameserver.protocol import Command, Ok
from gameserver.sshkeys import MAX_KEYS, BadKey, SSHKey, parse_key

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
    hub, table = ssh.hub, ssh.table
    if verb in ("list", "ls"):
        keys = table.keys(user)
        if not keys:
            text = ("your account has no SSH key; /sshkey add KEY (the line of your "
                    "~/.ssh/id_ed25519.pub) lets `ssh` log you in without a password")
            hub.send(session, Ok(id=message.id, text=text, data=_listing(keys)))
            return
        hub.send(session, Ok(id=message.id, text=f"your SSH keys ({len(keys)}):",
                             lines=[describe(n, k) for n, k in enumerate(keys, start=1)],
                             data=_listing(keys)))
    elif verb == "add":
        if not rest:
            raise CommandError("usage", "usage: /sshkey add KEY, where KEY is the whole line "
                                        "of your ~/.ssh/id_ed25519.pub (or id_rsa.pub)")
        try:
            key = parse_key(rest)
        except BadKey as exc:
            raise CommandError("bad_key", str(exc)) from None
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
        hub.send(session, Ok(id=message.id, text=(
            f"SSH key {key.fingerprint} added: `ssh` with it now logs you in as {user} "
            f"without a password ({len(keys)} key{'s' if len(keys) != 1 else ''})"),
            data=_listing(keys)))
    elif verb in ("remove", "rm", "delete", "del"):
        keys = table.keys(user)
        chosen = _pick(keys, rest)
        table.remove(user, chosen.key)
        left = table.keys(user)
        hub.send(session, Ok(id=message.id, text=(
            f"SSH key {chosen.fingerprint} removed; {len(left) or 'no'} key"
            f"{'s' if len(left) != 1 else ''} left"), data=_listing(left)))
    else:
        raise CommandError("usage", USAGE)


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
