"""The host's safety settings (flood, login, pre-login limits): defaults, play.toml, flags."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SETTINGS_FILE = "play.toml"


class SettingsError(ValueError):
    """A setting is wrong (unknown name, wrong type, out of range); the message says which."""


def _setting(default: Any, help: str, low: float = 0, panel: str | None = None) -> Any:
    return field(default=default, metadata={"help": help, "low": low, "panel": panel})


@dataclass(frozen=True)
class Settings:
    """Every limit a host may tune; each is also a `play host` flag and a play.toml key."""

    flood_burst: int = _setting(20, "lines a client may send at once (a paste)", 1)
    flood_rate: float = _setting(4.0, "lines a second a client may keep sending", 0.01)
    flood_queue: int = _setting(12, "lines past the rate held back before 'slow down'")
    flood_kick: int = _setting(300, "refused lines (net of the rate) that end in a disconnect", 1)
    flood_kick_after: float = _setting(
        5.0, "seconds a flood must go on before that disconnect (a paste never does)", 0)
    login_free_failures: int = _setting(
        3, "failed logins per account or address before waits begin")
    login_wait_max: float = _setting(300.0, "longest wait after failed logins, in seconds", 1)
    registrations_per_hour: int = _setting(10, "new accounts per source address per hour")
    hash_queue: int = _setting(32, "password checks queued at once; past it logins get 'busy'", 1)
    max_per_address: int = _setting(20, "connections per source address (loopback too)", 1)
    hello_timeout: float = _setting(5.0, "seconds a connection has to say hello", 0.1)
    login_timeout: float = _setting(60.0, "seconds a connection has to log in", 0.1)
    prelogin_frame: int = _setting(4096, "bytes a frame may have before login", 256)
    ping_after: float = _setting(60.0, "idle seconds before a logged-in client is pinged", 0.1)
    ping_timeout: float = _setting(30.0, "seconds a pinged client has to answer", 0.1)
    max_rooms: int = _setting(10, "rooms one user may be in at once", 1)
    ssh_port: int = _setting(-1, "also serve SSH on this port (ssh -p PORT you@host; 0: any free"
                                 " port; -1: no SSH)", -1, panel="Doors")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Settings)}
DEFAULTS = Settings()


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def help_text(name: str) -> str:
    f = FIELDS[name]
    return f"{f.metadata['help']} (default {getattr(DEFAULTS, name):g})"


def check(name: str, value: Any, where: str) -> int | float:
    """The value as the setting's type, or SettingsError with a sentence."""
    f = FIELDS.get(name)
    if f is None:
        known = ", ".join(FIELDS)
        raise SettingsError(f"{where}: unknown setting {name!r} (known: {known})")
    kind = int if f.type in (int, "int") else float
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            kind is int and not isinstance(value, int)):
        raise SettingsError(f"{where}: {name} must be {'a whole' if kind is int else 'a'} "
                            f"number, not {value!r}")
    low = f.metadata["low"]
    if value < low:
        raise SettingsError(f"{where}: {name} must be at least {low:g}, not {value!r}")
    return kind(value)


def read_file(path: Path) -> dict[str, int | float]:
    """The settings in a play.toml (none if the file is absent)."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from None
    return {name: check(name, value, str(path)) for name, value in data.items()}


def load(data_dir: Path | None, flags: dict[str, Any] | None = None) -> Settings:
    """Defaults, then data_dir/play.toml, then flags (None means 'not given')."""
    values: dict[str, Any] = read_file(data_dir / SETTINGS_FILE) if data_dir else {}
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = check(name, value, flag_name(name))
    return Settings(**values)
