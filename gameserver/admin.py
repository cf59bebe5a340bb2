"""`play admin` on the server machine: grant and revoke admins, reset a password.

It writes the server's SQLite file directly (WAL lets it while a server runs), or,
with `--store postgresql://...`, the cluster's database; a running server (every node)
picks admins up within seconds (CommunityHost re-reads them on its tick), and a new
password holds from the next login.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gameserver.communitystore import CommunityStore
from gameserver.core.roles import ADMIN, HOST, RANK_NAMES, SERVER, Community
from gameserver.passwords import hash_password
from gameserver.store import StorageError


class AdminError(Exception):
    """What `play admin` could not do, in a sentence."""


def _open(data_dir: Path, store_url: str | None = None) -> CommunityStore:
    """The community's tables: the data directory's SQLite file, or the cluster's database."""
    if store_url is not None:
        from gameserver.runtime import redact
        from gameserver.stores.pgcommunity import PostgresCommunityStore
        from gameserver.stores.postgres import PostgresStore

        try:
            return PostgresCommunityStore(PostgresStore(store_url, node="play admin"))
        except StorageError as exc:
            raise AdminError(f"cannot use the store {redact(store_url)}: {exc}") from None
    path = data_dir / "play.db"
    if not path.exists():
        raise AdminError(f"no server data in {data_dir}")
    try:
        return CommunityStore.open(path)
    except StorageError as exc:
        raise AdminError(f"cannot open the server data in {data_dir}: {exc}") from None


def _close(kept: Any) -> None:
    store = getattr(kept, "store", None)
    if store is not None:  # PostgreSQL: the store owns the connection
        store.close()
    else:
        kept.db.close()


def _account(kept: CommunityStore, user: str) -> str:
    store = getattr(kept, "store", None)
    if store is not None:
        found = store.account_hash(user)
        name = None if found is None else found[0]
    else:
        row = kept.db.execute("SELECT name FROM accounts WHERE key = ?",
                              (user.casefold(),)).fetchone()
        name = None if row is None else row[0]
    if name is None:
        raise AdminError(f"there is no user called {user}")
    return str(name)


def grant(data_dir: Path, user: str, make: bool, store_url: str | None = None) -> str:
    """Make `user` an admin (the first one becomes the host rank), or take it away."""
    kept = _open(data_dir, store_url)
    try:
        name = _account(kept, user)
        community = kept.load(Community(kept))
        rank = community.rank(name)
        if make:
            if rank >= ADMIN:
                return f"{name} is already {'the host' if rank == HOST else 'an admin'}"
            community.set_admin(name, HOST if not community.admins else ADMIN)
            kept.log(SERVER, "(server machine)", "grant", name)
            first = " (the first: the host rank)" if community.rank(name) == HOST else ""
            return f"{name} is now an admin of this server{first}"
        if rank < ADMIN:
            return f"{name} is not an admin"
        community.set_admin(name, None)
        kept.log(SERVER, "(server machine)", "revoke", name)
        return f"{name} is no longer an admin"
    except StorageError as exc:
        raise AdminError(f"cannot change the server data: {exc}") from None
    finally:
        _close(kept)


def admins(data_dir: Path, store_url: str | None = None) -> list[str]:
    kept = _open(data_dir, store_url)
    try:
        community = kept.load(Community(kept))
        return [f"{name} ({RANK_NAMES[rank]})" for name, rank in
                sorted(community.admins.values(), key=lambda a: a[0].casefold())]
    finally:
        _close(kept)


def reset_password(data_dir: Path, user: str, password: str,
                   store_url: str | None = None) -> str:
    if not password:
        raise AdminError("the password must not be empty")
    kept = _open(data_dir, store_url)
    try:
        name = _account(kept, user)
        kept.set_password_hash(name, hash_password(password))
        kept.log(SERVER, "(server machine)", "reset-password", name)
        return f"the password of {name} is set; their sessions must log in again"
    except StorageError as exc:
        raise AdminError(f"cannot change the server data: {exc}") from None
    finally:
        _close(kept)
