"""The cost of an end-to-end encrypted PM against a plain one: client CPU, wire bytes, store bytes.

Run: python benchmarks/e2e_cost.py [--n 2000]. Seals and opens with the client's own
code (gameclient/e2e.py), builds the very frames the client and server send, and
writes rows into a real SQLite store to measure what a PM adds to the file.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gameclient.e2e import DeviceKeyring, open_envelope, seal  # noqa: E402
from gameserver.protocol import Command, PrivateMessage, encode  # noqa: E402
from gameserver.protocol_e2e import SEALED_TEXT  # noqa: E402
from gameserver.store import SEALED_PM, SQLiteStore  # noqa: E402


def keyring(folder: Path, user: str) -> DeviceKeyring:
    return DeviceKeyring.load_or_new(folder, "bench", user)[0]


def cpu_per_call(func, n: int) -> float:  # type: ignore[no-untyped-def]
    """Microseconds of this process's CPU per call, best of three runs."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(n):
            func()
        best = min(best, (time.process_time() - start) / n)
    return best * 1e6


def store_bytes(folder: Path, rows: list[tuple[str, str]], n: int) -> float:
    """File bytes per PM after storing `n` of them (rows cycled), checkpointed."""
    store = SQLiteStore(folder / "play.db")
    store.commit()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = (folder / "play.db").stat().st_size
    for i in range(n):
        kind, text = rows[i % len(rows)]
        store.add_message(kind, "alice", "bob", text)
        if i % 100 == 99:
            store.commit()
    store.commit()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = (folder / "play.db").stat().st_size
    store.close()
    return (after - before) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="operations per measurement")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="e2e-bench-"))
    alice = keyring(tmp / "a", "alice")
    devices = {name: keyring(tmp / name, "bob" if name.startswith("b") else "alice")
               for name in ("bob", "bob2", "bob3", "alice2", "alice3")}
    print(f"# e2e PM cost; {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, n={args.n}")
    print(f"{'text':>6} {'devices':>7} {'seal µs':>8} {'open µs':>8} {'send B':>7} "
          f"{'(plain)':>7} {'recv B':>7} {'(plain)':>7} {'row B':>6} {'(plain)':>7}")
    for length in (20, 200, 2000):
        text = ("ab cd é " * length)[:length]
        for theirs, mine in ((1, 1), (2, 1), (3, 3)):  # device keys of bob, of alice
            recipients = [devices[n].public for n in ("bob", "bob2", "bob3")[:theirs]]
            recipients += [alice.public] + [devices[n].public for n in ("alice2", "alice3")
                                            ][: mine - 1]
            count = len(recipients)
            envelope = seal(alice, "alice", "bob", text, recipients)
            seal_us = cpu_per_call(lambda r=recipients, t=text: seal(alice, "alice", "bob", t, r),
                                   max(args.n // (count * 2), 50))
            open_us = cpu_per_call(lambda e=envelope: open_envelope(devices["bob"], e),
                                   max(args.n // 2, 50))
            sent = len(encode(Command(id=42, name="emsg", args=f"bob {envelope}")))
            sent_plain = len(encode(Command(id=42, name="msg", args=f"bob {text}")))
            got = len(encode(PrivateMessage(sender="alice", to="bob", text=SEALED_TEXT,
                                            ts=time.time(), e2e=envelope)))
            got_plain = len(encode(PrivateMessage(sender="alice", to="bob", text=text,
                                                  ts=time.time())))
            print(f"{length:>6} {count:>7} {seal_us:>8.0f} {open_us:>8.0f} {sent:>7} "
                  f"{sent_plain:>7} {got:>7} {got_plain:>7} {len(envelope):>6} "
                  f"{len(text.encode()):>7}")
    envelope = seal(alice, "alice", "bob", "see you at eight", [devices["bob"].public,
                                                                 alice.public])
    n_rows = max(args.n, 500)
    sealed_b = store_bytes(tmp / "s1", [(SEALED_PM, envelope)], n_rows)
    plain_b = store_bytes(tmp / "s2", [("PM", "see you at eight")], n_rows)
    print(f"# store file growth per PM of 16 characters, 2 devices ({n_rows} PMs): "
          f"sealed {sealed_b:.0f} B, plain {plain_b:.0f} B")


if __name__ == "__main__":
    main()
