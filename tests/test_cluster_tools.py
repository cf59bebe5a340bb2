"""`play admin` and `play history` against a cluster's PostgreSQL store (--store URL)."""

from __future__ import annotations

import subprocess
import time

from helpers import ServerProcess, child_env, play_command


def play(*args: str, stdin: str = "", password: str | None = "pw",
         timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = child_env(**({"PLAY_PASSWORD": password} if password is not None else {}))
    return subprocess.run(play_command(*args), input=stdin, capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_admin_and_history_work_on_the_clusters_database(tmp_path, postgres_url):
    node = ServerProcess(tmp_path / "node", "--no-tls", "--store", postgres_url)
    try:
        port = str(node.port)
        said = play("join", "127.0.0.1", port, "ann", "--plain", "--insecure",
                    stdin="kept in postgres\n")
        assert said.returncode == 0, said.stderr
        assert play("join", "127.0.0.1", port, "bob", "--plain", "--insecure").returncode == 0
        store = ("--store", postgres_url)
        out = play("admin", "grant", "nobody", *store)
        assert out.returncode == 1 and "there is no user called nobody" in out.stderr
        out = play("admin", "grant", "ANN", *store)
        assert out.returncode == 0 and "ann is now an admin" in out.stdout, out
        assert "bob is now an admin" in play("admin", "grant", "bob", *store).stdout
        assert play("admin", "list", *store).stdout.split("\n")[:2] == [
            "ann (host)", "bob (admin)"]
        deadline = time.monotonic() + 30  # the running node takes it up on its tick
        while True:
            seen = play("join", "127.0.0.1", port, "bob", "--plain", "--insecure",
                        stdin="/admin list\n").stdout
            if ("ann (host)" in seen and "bob (admin)" in seen) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "bob (admin)" in seen and "ann (host)" in seen
        assert "no longer an admin" in play("admin", "revoke", "bob", *store).stdout
        out = play("admin", "reset-password", "ann", *store, password="new")
        assert out.returncode == 0 and "the password of ann is set" in out.stdout
        old = play("join", "127.0.0.1", port, "ann", "--plain", "--insecure", password="pw")
        assert old.returncode == 1 and "is wrong" in old.stderr
        out = play("history", "ann", "--stdout", *store)
        assert out.returncode == 0 and "kept in postgres" in out.stdout, out
        assert play("history", "nobody", "--stdout", *store).returncode == 1
    finally:
        node.stop()
    bad = play("admin", "list", "--store", "postgresql://play@127.0.0.1:1/none")
    assert bad.returncode == 1 and "cannot use the store" in bad.stderr, bad.stderr
    bad = play("history", "ann", "--store", "postgresql://play@127.0.0.1:1/none")
    assert bad.returncode == 1 and "cannot read the store" in bad.stderr, bad.stderr
    assert play("history", "ann", "--store", "mysql://x").returncode == 2
