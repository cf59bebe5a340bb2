"""End-to-end PMs as a user meets them: `play join` in pipes, `play history`, `play keys`."""

from __future__ import annotations

import subprocess

import pytest
from helpers import ServerProcess, child_env, play_command

SECRET = "psst the vault code is 4711 walrus"


def play(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(play_command(*args), input=stdin, capture_output=True, text=True,
                          env=child_env(**env), timeout=60)


def join(port: int, user: str, keys: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    out = play("join", "127.0.0.1", str(port), user, "--plain", "--data-dir", keys,
               stdin=stdin, PLAY_PASSWORD="pw")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    return out


@pytest.fixture
def server(tmp_path):
    proc = ServerProcess(tmp_path / "srv")
    yield proc
    proc.stop()


def test_offline_pm_history_export_and_moving_keys(server, tmp_path):
    bob_keys, alice_keys, moved = (str(tmp_path / n) for n in ("bob", "alice", "moved"))
    first = join(server.port, "bob", bob_keys)
    assert "a key for end-to-end PMs was made for this device" in first.stdout
    sent = join(server.port, "alice", alice_keys, f"/msg bob {SECRET}\n")
    assert f"[@bob] -> bob: {SECRET}  (bob is offline; queued for their next login)  [e2e]" \
        in sent.stdout.splitlines()
    got = join(server.port, "bob", bob_keys).stdout
    assert "* 1 private message waited for you, from alice" in got
    assert f"[PM from alice] {SECRET} (sent " in got and "while you were away)  [e2e]" in got
    assert "made for this device" not in got  # the same key, kept from the first login
    # The server side: the export and the database hold no plaintext.
    export = play("history", "alice", "--data-dir", str(tmp_path / "srv"), "--stdout")
    assert export.returncode == 0 and "[PM] [alice -> bob] (end-to-end encrypted" in export.stdout
    assert "walrus" not in export.stdout
    for path in (tmp_path / "srv").glob("play.db*"):
        assert b"walrus" not in path.read_bytes()
    # Alice moves to a new device with her keys.
    keyfile = tmp_path / "alice.keys"
    passphrase = {"PLAY_KEYS_PASSPHRASE": "horse battery staple"}
    out = play("keys", "export", str(keyfile), "--data-dir", alice_keys, **passphrase)
    assert out.returncode == 0 and "exported 1 device key" in out.stdout, out.stderr
    assert keyfile.stat().st_mode & 0o777 == 0o600 and b"walrus" not in keyfile.read_bytes()
    again = play("keys", "export", str(keyfile), "--data-dir", alice_keys, **passphrase)
    assert again.returncode == 1 and "exists" in again.stderr
    wrong = play("keys", "import", str(keyfile), "--data-dir", moved,
                 PLAY_KEYS_PASSPHRASE="not the passphrase")
    assert wrong.returncode == 1 and "the passphrase is wrong" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    out = play("keys", "import", str(keyfile), "--data-dir", moved, **passphrase)
    assert out.returncode == 0 and "imported 1 device key" in out.stdout, out.stderr
    history = join(server.port, "alice", moved, "/history @bob\n").stdout
    assert f"[alice -> bob] {SECRET}  [e2e]" in history
    assert "made for this device" not in history and "NEW device key" not in history


def test_no_keys_session_sees_a_sentence_and_sends_marked_plain(server, tmp_path):
    join(server.port, "bob", str(tmp_path / "bob"))
    join(server.port, "alice", str(tmp_path / "alice"), f"/msg bob {SECRET}\n")
    bare = play("join", "127.0.0.1", str(server.port), "bob", "--plain", "--no-keys",
                stdin="/msg alice hello in clear\n", PLAY_PASSWORD="pw")
    assert bare.returncode == 0, bare.stderr
    assert "[PM from alice] an encrypted message: read it in the play client" in bare.stdout
    assert "walrus" not in bare.stdout
    assert "-> alice: hello in clear  (alice is offline; queued for their next login; " \
        "not end-to-end encrypted)" in bare.stdout
    got = join(server.port, "alice", str(tmp_path / "alice")).stdout
    assert "[PM from bob] hello in clear (sent " in got
    assert "while you were away)  [not end-to-end encrypted]" in got


def test_keys_commands_say_what_is_wrong(tmp_path):
    out = play("keys", "export", str(tmp_path / "k"), "--data-dir", str(tmp_path / "none"),
               PLAY_KEYS_PASSPHRASE="long enough")
    assert out.returncode == 1 and "no device keys" in out.stderr
    out = play("keys", "import", str(tmp_path / "missing"), PLAY_KEYS_PASSPHRASE="long enough")
    assert out.returncode == 1 and "cannot read" in out.stderr
    (tmp_path / "junk").write_text("hello")
    out = play("keys", "import", str(tmp_path / "junk"), PLAY_KEYS_PASSPHRASE="long enough")
    assert out.returncode == 1 and "not a play keys export" in out.stderr
    out = play("keys", "import", str(tmp_path / "junk"))
    assert out.returncode == 2 and "PLAY_KEYS_PASSPHRASE" in out.stderr
    assert "Traceback" not in out.stderr
