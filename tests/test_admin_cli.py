"""`play admin` on the server machine, and the host's account as the first admin."""

from __future__ import annotations

import subprocess
import time

from helpers import ServerProcess, child_env, play_command


def play(*args: str, stdin: str = "", password: str | None = "pw",
         timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = child_env(**({"PLAY_PASSWORD": password} if password is not None else {}))
    return subprocess.run(play_command(*args), input=stdin, capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_grant_list_revoke_and_reset_password_while_the_server_runs(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(data)
    try:
        port = str(server.port)
        for user in ("ann", "bob"):
            assert play("join", "127.0.0.1", port, user, "--plain").returncode == 0
        out = play("admin", "grant", "nobody", "--data-dir", str(data))
        assert out.returncode == 1 and "there is no user called nobody" in out.stderr
        out = play("admin", "grant", "ANN", "--data-dir", str(data))
        assert out.returncode == 0 and "ann is now an admin" in out.stdout
        assert "the first: the host rank" in out.stdout
        assert "bob is now an admin" in play("admin", "grant", "bob", "--data-dir",
                                             str(data)).stdout
        assert play("admin", "list", "--data-dir", str(data)).stdout.split("\n")[:2] == [
            "ann (host)", "bob (admin)"]
        deadline = time.monotonic() + 30  # the running server takes it up on its tick
        while True:
            seen = play("join", "127.0.0.1", port, "bob", "--plain",
                        stdin="/admin list\n").stdout
            if ("ann (host)" in seen and "bob (admin)" in seen) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "bob (admin)" in seen and "ann (host)" in seen
        assert "bob is no longer an admin" in play("admin", "revoke", "bob", "--data-dir",
                                                   str(data)).stdout
        out = play("admin", "reset-password", "ann", "--data-dir", str(data), password="new")
        assert out.returncode == 0 and "the password of ann is set" in out.stdout
        old = play("join", "127.0.0.1", port, "ann", "--plain", password="pw")
        assert old.returncode == 1 and "is wrong" in old.stderr
        assert play("join", "127.0.0.1", port, "ann", "--plain", password="new").returncode == 0
        empty = play("admin", "reset-password", "ann", "--data-dir", str(data), password="")
        assert empty.returncode == 2 and "must not be empty" in empty.stderr
    finally:
        server.stop()
    missing = play("admin", "list", "--data-dir", str(tmp_path / "none"))
    assert missing.returncode == 1 and "no server data" in missing.stderr


def test_the_hosts_account_is_the_first_admin(tmp_path):
    out = play("host", "--port", "0", "--name", "hostess", "--plain", "--data-dir",
               str(tmp_path / "d"), stdin="/admin list\n/whois hostess\n/quit\n")
    assert out.returncode == 0, out.stderr
    assert "hostess is this server's first admin" in out.stdout
    assert "hostess (host)" in out.stdout
    again = play("host", "--port", "0", "--name", "other", "--plain", "--data-dir",
                 str(tmp_path / "d"), stdin="/admin list\n/quit\n")
    assert "first admin" not in again.stdout and "hostess (host)" in again.stdout
    assert "other (" not in again.stdout
