"""The design's import rules, checked on the source: the core has no I/O, games are pure."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import child_env

ROOT = Path(__file__).resolve().parent.parent
STDLIB = sys.stdlib_module_names
CORE_FORBIDDEN = {"asyncio", "socket", "ssl", "json", "selectors", "curses", "sqlite3",
                  "gameserver.doors", "gameserver.runtime", "gameserver.server",
                  "gameserver.tuning", "gameclient"}


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth (inside functions too), as dotted names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def forbidden(name: str, banned: set[str]) -> bool:
    return any(name == b or name.startswith(b + ".") for b in banned)


def files(folder: str) -> list[Path]:
    found = sorted((ROOT / folder).rglob("*.py"))
    assert found, folder
    return found


@pytest.mark.parametrize("path", files("gameserver/core"), ids=lambda p: p.name)
def test_the_core_imports_no_io_no_wire_and_no_door(path):
    bad = sorted(n for n in imports_of(path) if forbidden(n, CORE_FORBIDDEN))
    assert not bad, f"{path.name} imports {bad}"


def test_loading_the_core_loads_no_event_loop_or_tls():
    """(socket itself comes with importlib.metadata, which finds the game plugins.)"""
    code = ("import sys, gameserver.core.hub, gameserver.core.gamehost, "
            "gameserver.core.gamecommands\n"
            "print(sorted(m for m in ('asyncio', 'ssl') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, env=child_env(), cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("path", files("games"), ids=lambda p: p.name)
def test_games_import_only_the_standard_library_and_themselves(path):
    bad = sorted(n for n in imports_of(path)
                 if n.split(".")[0] not in STDLIB and n.split(".")[0] != "games")
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("name", ["protocol.py", "protocol_e2e.py"])
def test_the_wire_format_imports_only_the_standard_library(name):
    path = ROOT / "gameserver" / name
    bad = sorted(n for n in imports_of(path) if n.split(".")[0] not in STDLIB)
    assert not bad, bad


@pytest.mark.parametrize("path", [p for p in files("gameclient") if p.name != "cli.py"],
                         ids=lambda p: p.name)
def test_the_client_uses_only_the_protocol_of_the_server(path):
    """cli.py is the one place that wires a server and a client together (play host)."""
    bad = sorted(n for n in imports_of(path)
                 if n.startswith("gameserver") and not n.startswith("gameserver.protocol"))
    assert not bad, f"{path.name} imports {bad}"


def test_the_rules_catch_a_breach(tmp_path):
    """The checker itself: a core file importing asyncio inside a function is caught."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import asyncio\n    from gameserver.doors import x\n")
    assert {n for n in imports_of(sample) if forbidden(n, CORE_FORBIDDEN)} == {
        "asyncio", "gameserver.doors", "gameserver.doors.x"}


SCREEN_PURE = ("controller.py", "ansiscreen.py", "termkeys.py", "model.py", "paneset.py",
               "pmevents.py", "views.py", "layout.py", "lineedit.py", "textwidth.py",
               "commands.py", "panes.py")
SCREEN_FORBIDDEN = {"asyncio", "socket", "ssl", "selectors", "curses", "_curses", "threading",
                    "gameclient.connection", "gameclient.cursesui", "gameclient.screen",
                    "gameclient.lineclient", "gameclient.reconnect"}


@pytest.mark.parametrize("name", SCREEN_PURE)
def test_the_screen_the_ssh_door_shares_is_pure(name):
    """The SSH door draws with these: no event loop, no curses, no client connection."""
    bad = sorted(n for n in imports_of(ROOT / "gameclient" / name)
                 if forbidden(n, SCREEN_FORBIDDEN))
    assert not bad, f"{name} imports {bad}"


def test_loading_the_shared_screen_loads_no_event_loop_curses_or_socket():
    modules = ", ".join(f"gameclient.{name[:-3]}" for name in SCREEN_PURE)
    code = (f"import sys, {modules}\n"
            f"print(sorted(m for m in {sorted(SCREEN_FORBIDDEN)!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, env=child_env(), cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"
