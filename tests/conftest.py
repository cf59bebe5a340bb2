"""Shared pytest setup: make `tests/helpers.py` importable, keep children off user data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the real ~/.local/share/play, here or in child processes."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PLAY_DATA_DIR", str(home / "data"))
    monkeypatch.delenv("PLAY_PASSWORD", raising=False)
