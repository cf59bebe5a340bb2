"""The `play` CLI as a user runs it: prompts, validation, exit codes, the line client in a pipe."""

from __future__ import annotations

import errno
import os
import pty
import select
import signal
import socket
import subprocess
import time

import pytest
from helpers import ServerProcess, child_env, play_command

from gameclient.cli import check_address, port_checker
from gameclient.connection import connect_error_message
from gameserver.server import bind_error_message


def play(*args: str, stdin: str | None = None, password: str | None = "pw",
         timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = child_env(**({"PLAY_PASSWORD": password} if password is not None else {}))
    return subprocess.run(play_command(*args), input=stdin if stdin is not None else "",
                          capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture
def server(tmp_path):
    proc = ServerProcess(tmp_path / "data")
    yield proc
    proc.stop()


# ---------------------------------------------------------------- validation, no terminal


@pytest.mark.parametrize(("args", "message"), [
    (("join",), "missing address"),
    (("join", "127.0.0.1"), "missing port"),
    (("join", "127.0.0.1", "5220"), "missing username"),
    (("join", "127.0.0.1", "99999", "ann"), "outside 1-65535"),
    (("join", "127.0.0.1", "0", "ann"), "outside 1-65535"),
    (("join", "127.0.0.1", "http", "ann"), "not a port number"),
    (("join", "bad address!", "5220", "ann"), "not a valid IP address or host name"),
    (("join", "", "5220", "ann"), "must not be empty"),
    (("join", "127.0.0.1", "5220", "two words"), "must not contain spaces"),
    (("join", "--host", "127.0.0.1"), "missing port; give it as PORT or --port"),
    (("join", "--host", "127.0.0.1", "--port", "http", "--name", "ann"), "not a port number"),
    (("join", "--name", "two words", "127.0.0.1", "5220"), "must not contain spaces"),
    (("join", "127.0.0.1", "--host", "127.0.0.2", "5220", "ann"),
     "the address is given twice, as HOST (127.0.0.1) and as --host (127.0.0.2)"),
    (("host", "--headless", "--port", "-1"), "not a port number"),
    (("host", "--name", ""), "must not be empty"),
    (("host",), "missing username"),
    (("host", "--port", "0"), "missing username"),  # address, port: defaults, never a wait
])
def test_bad_or_missing_values_exit_2(args, message):
    out = play(*args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr + out.stdout


def test_validators():
    assert check_address(" 127.0.0.1 ") == "127.0.0.1"
    assert check_address("::1") == "::1"
    assert check_address("localhost") == "localhost"
    assert port_checker(True)("0") == 0
    for bad in ("foo..bar", "a b", "-x", "a_b"):
        with pytest.raises(ValueError):
            check_address(bad)


def test_error_sentences():
    assert "unknown host" in connect_error_message(socket.gaierror(-2, "x"), "nope", 1)
    assert "timed out" in connect_error_message(TimeoutError(), "127.0.0.1", 1)
    assert "refused" in connect_error_message(ConnectionRefusedError(errno.ECONNREFUSED, "x"),
                                              "127.0.0.1", 1)
    assert "already in use" in bind_error_message(OSError(errno.EADDRINUSE, "x"), "h", 1)
    assert "permission denied" in bind_error_message(OSError(errno.EACCES, "x"), "h", 80)
    assert "not available" in bind_error_message(OSError(errno.EADDRNOTAVAIL, "x"), "h", 1)


def test_connection_refused_exits_1():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = play("join", "127.0.0.1", str(port), "ann", "--plain")
    assert out.returncode == 1 and "connection refused" in out.stderr
    assert "Traceback" not in out.stderr


def test_port_in_use_exits_1(server, tmp_path):
    out = play("host", "--headless", "--port", str(server.port), "--data-dir",
               str(tmp_path / "other"))
    assert out.returncode == 1 and "already in use" in out.stderr
    assert "Traceback" not in out.stderr


def test_restart_on_the_same_port_right_after_a_stop(tmp_path):
    first = ServerProcess(tmp_path / "d")
    port = first.port
    subprocess.run(["true"])
    first.proc.send_signal(signal.SIGINT)
    first.proc.communicate(timeout=10)
    again = subprocess.Popen(play_command("host", "--headless", "--port", str(port),
                                          "--data-dir", str(tmp_path / "d")),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=child_env())
    line = again.stdout.readline()
    again.terminate()
    again.communicate(timeout=10)
    assert f"listening on 127.0.0.1:{port}" in line


# ---------------------------------------------------------------- the line client in a pipe


def read_until(proc: subprocess.Popen, text: str) -> str:
    """What a piped child printed, up to and with the line containing `text` (the test's
    timeout bounds the wait)."""
    seen = ""
    while text not in seen:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"{text!r} not seen; got {seen!r}")
        seen += line
    return seen


def test_join_takes_host_port_and_name_as_flags_too(server):
    """As `play host --host --port --name` does; the same value twice is no conflict."""
    out = play("join", "--host", "127.0.0.1", "--port", str(server.port), "--name", "cy",
               "--plain", stdin="/who\n")
    assert out.returncode == 0, out.stderr
    assert "you are in #lobby" in out.stdout and "Traceback" not in out.stderr
    out = play("join", "127.0.0.1", "--host", "127.0.0.1", str(server.port), "cy", "--plain")
    assert out.returncode == 0, out.stderr


def test_line_client_through_a_pipe(server):
    play("join", "127.0.0.1", str(server.port), "bob", "--plain", stdin="")
    bob = subprocess.Popen(play_command("join", "127.0.0.1", str(server.port), "bob"),
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=child_env(PLAY_PASSWORD="pw"))
    early = read_until(bob, "you are in #lobby")
    out = play("join", "127.0.0.1", str(server.port), "ann",
               stdin="hello from a pipe\n/msg bob psst\n/nope\n")
    bob.stdin.write("/quit\n")
    bob.stdin.flush()
    bob_out, _ = bob.communicate(timeout=20)
    bob_out = early + bob_out
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "<ann> hello from a pipe" in lines
    # the PM opened its conversation: from then on each line says whose it is
    assert "[@bob] -> bob: psst  (delivered)  [e2e]" in lines
    assert "[#lobby] ! unknown command /nope; type /help for the list" in lines
    assert lines[-1] == "[#lobby] * you left"
    assert "[PM from bob]" not in out.stdout
    assert "<ann> hello from a pipe" in bob_out and "[PM from ann] psst" in bob_out
    assert bob.returncode == 0


def test_a_pipe_s_lines_go_to_the_room_it_joined_last(server):
    """`/join den` then lines, in one pipe: they go to #den (not to the room before the
    server answered), /rooms lists both, and after `/part den` lines go back."""
    out = play("join", "127.0.0.1", str(server.port), "ann",
               stdin="/join den\n/rooms\nin the den\n/part den\nin the lobby\n")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "[#den] <ann> in the den" in lines, out.stdout
    assert "you are in 2 rooms (/switch NAME or number sends your lines to another):" in lines
    assert "<ann> in the lobby" in lines, out.stdout
    assert lines.index("[#den] <ann> in the den") < lines.index("<ann> in the lobby")


def test_a_script_that_floods_reads_why_it_was_disconnected(tmp_path):
    """A pipe that keeps sending far past the flood limits is put off the server: the line
    client prints the server's reason, once, and exits 1, not a socket error per line."""
    server = ServerProcess(tmp_path / "data", "--flood-kick", "20", "--flood-kick-after", "0.5")
    try:
        out = play("join", "127.0.0.1", str(server.port), "eve",
                   stdin="flood line\n" * 200_000, timeout=60)
    finally:
        server.stop()
    assert out.returncode == 1, out.stderr[-2000:]
    said = [line for line in out.stdout.splitlines() if "flood line" not in line
            and "slow down" not in line]
    assert "* disconnected for flooding: you kept sending far more than 4 lines a second" \
        in said, said
    assert len([line for line in said if "connection" in line]) <= 1, said
    assert "Traceback" not in out.stderr and "socket.send() raised" not in out.stderr


def test_line_client_exits_0_on_shutdown_notice_and_1_on_lost_connection(tmp_path):
    for how, code, text in ((signal.SIGINT, 0, "the server is shutting down"),
                            (signal.SIGTERM, 0, "the server is restarting"),  # a pipe: ends
                            (signal.SIGKILL, 1, "connection lost")):
        server = ServerProcess(tmp_path / how.name)
        client = subprocess.Popen(
            play_command("join", "127.0.0.1", str(server.port), "ann", "--plain"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=child_env(PLAY_PASSWORD="pw"))
        deadline = time.monotonic() + 10
        seen = ""
        while "you are in #lobby" not in seen and time.monotonic() < deadline:
            if select.select([client.stdout], [], [], 0.2)[0]:
                seen += os.read(client.stdout.fileno(), 4096).decode()
        server.proc.send_signal(how)
        server.proc.communicate(timeout=10)
        client.wait(timeout=10)
        out, err = client.stdout.read(), client.stderr.read()
        assert client.returncode == code, (out, err)
        assert text in seen + out + err
        assert "Traceback" not in out + err


def test_wrong_password_from_the_environment_exits_1(server):
    play("join", "127.0.0.1", str(server.port), "ann", "--plain", password="right")
    out = play("join", "127.0.0.1", str(server.port), "ann", "--plain", password="wrong")
    assert out.returncode == 1 and "wrong" in out.stderr


def test_no_password_and_no_terminal_is_a_missing_value_exit_2(server):
    out = play("join", "127.0.0.1", str(server.port), "ann", "--plain", password=None)
    assert out.returncode == 2 and "missing password" in out.stderr
    assert "PLAY_PASSWORD" in out.stderr


def test_an_empty_password_in_the_environment_is_refused_not_wrong(server):
    for user in ("brandnew", "known"):  # a new account and an existing one
        if user == "known":
            play("join", "127.0.0.1", str(server.port), user, "--plain", password="pw")
        out = play("join", "127.0.0.1", str(server.port), user, "--plain", password="")
        assert out.returncode == 2, out.stderr
        assert "must not be empty" in out.stderr and "wrong" not in out.stderr
    again = play("join", "127.0.0.1", str(server.port), "brandnew", "--plain", password="pw2")
    assert again.returncode == 0  # the empty try created nothing: any password registers it


def test_host_quitting_shuts_the_server_down_for_everyone(tmp_path):
    host = subprocess.Popen(
        play_command("host", "--port", "0", "--name", "hostess", "--plain", "--data-dir",
                     str(tmp_path / "h")),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env(PLAY_PASSWORD="pw"))
    first = host.stdout.readline()
    port = int(first.rsplit(":", 1)[1].split()[0])
    guest = subprocess.Popen(play_command("join", "127.0.0.1", str(port), "guest", "--plain"),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=child_env(PLAY_PASSWORD="g"))
    assert "you are in #lobby" in read_until(guest, "you are in #lobby")
    host.stdin.write("welcome guest\n/quit\n")
    host.stdin.flush()
    host_out, host_err = host.communicate(timeout=20)
    guest_out, guest_err = guest.communicate(timeout=20)
    assert host.returncode == 0, host_err
    assert "<hostess> welcome guest" in guest_out
    assert "the host has left; the server is shutting down" in guest_out
    assert guest.returncode == 0
    assert "Traceback" not in host_err + guest_err


# ---------------------------------------------------------------- prompts on a terminal


class Pty:
    """A child process on a pseudo-terminal, with a tiny expect()."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.execvpe(args[0], args, env)
        self.buffer = b""

    def expect(self, text: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                got = self.buffer.decode(errors='replace')
                raise AssertionError(f"{text!r} not seen; got {got!r}")
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"{text!r} not seen before exit; got {self.buffer!r}")
            self.buffer += chunk
        head, _, rest = self.buffer.partition(text.encode())
        self.buffer = rest
        return head.decode(errors="replace")

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                if select.select([self.fd], [], [], 0.1)[0]:
                    self.buffer += os.read(self.fd, 4096)
            except OSError:
                time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("child did not exit")


def test_prompts_defaults_reasons_and_three_password_tries(server):
    env = child_env(TERM="dumb")
    env.pop("PLAY_PASSWORD", None)
    child = Pty(play_command("join", "--plain"), env)
    child.expect("address [127.0.0.1]:")
    child.send("not valid!\r")
    child.expect("not a valid IP address or host name; try again")
    child.expect("address [127.0.0.1]:")
    child.send("\r")  # Enter takes the default
    child.expect("port [5220]:")
    child.send("70000\r")
    child.expect("outside 1-65535; try again")
    child.send(f"{server.port}\r")
    child.expect("username:")
    child.send("two words\r")
    child.expect("must not contain spaces; try again")
    child.send("newbie\r")
    child.expect("new account: choose a password")
    child.expect("password: ")
    child.send("one\r")
    child.expect("password again: ")
    child.send("two\r")
    child.expect("the two passwords differ; try again")
    child.expect("password: ")
    child.send("good\r")
    child.expect("password again: ")
    child.send("good\r")
    child.expect("you are in #lobby as newbie")
    child.send("/quit\r")
    child.expect("you left")
    assert child.wait() == 0
    # a known account, a wrong password three times: exit 1
    child = Pty(play_command("join", "127.0.0.1", str(server.port), "newbie", "--plain"), env)
    for _ in range(3):
        child.expect("password: ")
        child.send("bad\r")
    child.expect("wrong password for newbie")
    assert child.wait() == 1


def test_secret_word_from_a_pipe_is_read_as_the_next_line(server):
    out = play("join", "127.0.0.1", str(server.port), "dan",
               stdin="/game hangman --secret\n\nafter empty\n/quit\n")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert "! no secret word given; the game was not started" in out.stdout
    assert "<dan> after empty" in out.stdout and out.stdout.splitlines()[-1] == "* you left"


def test_ctrl_c_at_the_password_prompt_leaves_at_once_with_echo_back(server):
    import termios

    env = child_env(TERM="dumb")
    env.pop("PLAY_PASSWORD", None)
    child = Pty(play_command("join", "127.0.0.1", str(server.port), "newbie2", "--plain"), env)
    child.expect("password: ")
    os.kill(child.pid, signal.SIGINT)
    child.expect("interrupted")
    assert child.wait(timeout=5) == 130
    assert termios.tcgetattr(child.fd)[3] & termios.ECHO


def test_play_host_asks_address_port_and_username_with_defaults(tmp_path):
    env = child_env(TERM="dumb", PLAY_PASSWORD="pw", PLAY_DATA_DIR=str(tmp_path / "d"))
    child = Pty(play_command("host", "--plain"), env)
    child.expect("address [127.0.0.1]:")
    child.send("\r")  # Enter: 127.0.0.1
    child.expect("port [5220]:")
    child.send("65536\r")
    child.expect("outside 0-65535; try again")
    child.expect("port [5220]:")
    child.send("0\r")  # any free port
    child.expect("username:")
    child.send("\r")
    child.expect("a username must not be empty; try again")
    child.expect("username:")
    child.send("hostess\r")
    child.expect("play server listening on 127.0.0.1:")
    child.expect("you are in #lobby as hostess")
    child.send("/quit\r")
    child.expect("you left")
    assert child.wait() == 0


def test_play_host_flags_skip_each_question(tmp_path):
    env = child_env(TERM="dumb", PLAY_PASSWORD="pw", PLAY_DATA_DIR=str(tmp_path / "d"))
    child = Pty(play_command("host", "--port", "0", "--plain"), env)
    child.expect("address [127.0.0.1]:")
    child.send("\r")
    seen = child.expect("username:")
    assert "port" not in seen
    child.send("solo\r")
    child.expect("you are in #lobby as solo")
    child.send("/quit\r")
    assert child.wait() == 0
    child = Pty(play_command("host", "--host", "127.0.0.1", "--port", "0", "--name", "solo",
                             "--plain"), env)
    seen = child.expect("you are in #lobby as solo")
    assert "address [" not in seen and "port [" not in seen and "username:" not in seen
    child.send("/quit\r")
    assert child.wait() == 0


@pytest.mark.parametrize("answers", [[], ["\r"], ["\r", "\r"]])
def test_ctrl_c_at_every_prompt_says_interrupted_and_exits_130(tmp_path, answers):
    env = child_env(TERM="dumb", PLAY_DATA_DIR=str(tmp_path / "d"))
    child = Pty(play_command("join", "--plain"), env)
    for label, answer in zip(("address", "port"), answers, strict=False):
        child.expect(f"{label} [")
        child.send(answer)
    child.expect(("address [", "port [", "username:")[len(answers)])
    os.kill(child.pid, signal.SIGINT)
    child.expect("interrupted")
    assert child.wait() == 130
    assert "Traceback" not in child.buffer.decode(errors="replace")


def test_ctrl_d_at_a_prompt_is_a_missing_value(tmp_path):
    env = child_env(TERM="dumb", PLAY_DATA_DIR=str(tmp_path / "d"))
    child = Pty(play_command("join", "--plain"), env)
    child.expect("address [")
    child.send("\x04")
    child.expect("no address given")
    assert child.wait() == 2
