"""Terminal input, sans-IO: the bytes a terminal (or an SSH client) sends in, named keys out."""

from __future__ import annotations

import codecs
from dataclasses import dataclass

# What the keys do in the line editor: the same actions as the curses client's keys
# (gameclient/cursesui.py EDIT_KEYS), named by key instead of by curses code.
EDIT_ACTIONS: dict[str, str] = {
    "left": "left", "ctrl-b": "left",
    "right": "right", "ctrl-f": "right",
    "home": "home", "ctrl-a": "home",
    "end": "end", "ctrl-e": "end",
    "backspace": "backspace", "ctrl-h": "backspace",
    "delete": "delete",
    "ctrl-u": "kill_line",
    "ctrl-w": "kill_word",
    "up": "history_prev", "ctrl-p": "history_prev",
    "down": "history_next", "ctrl-n": "history_next",
}

MAX_SEQUENCE = 64  # characters in one escape sequence; longer is garbage and dropped
MAX_PASTE = 64 * 1024  # characters kept of one bracketed paste; the rest is dropped
PASTE_START = "\x1b[200~"
PASTE_END = "\x1b[201~"
ENABLE_BRACKETED_PASTE = "\x1b[?2004h"
DISABLE_BRACKETED_PASTE = "\x1b[?2004l"

# CSI final characters and SS3 characters that name a key on their own.
_LETTER_KEYS = {"A": "up", "B": "down", "C": "right", "D": "left", "H": "home", "F": "end",
                "E": "begin", "P": "f1", "Q": "f2", "R": "f3", "S": "f4", "Z": "back_tab",
                "M": "enter"}
# CSI <number> ~ (the vt220 / xterm / rxvt / linux console forms).
_TILDE_KEYS = {1: "home", 2: "insert", 3: "delete", 4: "end", 5: "page_up", 6: "page_down",
               7: "home", 8: "end", 11: "f1", 12: "f2", 13: "f3", 14: "f4", 15: "f5",
               17: "f6", 18: "f7", 19: "f8", 20: "f9", 21: "f10", 23: "f11", 24: "f12"}
# xterm's modifier parameter (CSI 1;5D): 1 + shift(1) + alt(2) + ctrl(4)
_MODIFIERS = {2: "shift-", 3: "alt-", 4: "alt-shift-", 5: "ctrl-", 6: "ctrl-shift-",
              7: "ctrl-alt-", 8: "ctrl-alt-shift-"}
# Control characters with names of their own; the others are ctrl-<letter>.
_CONTROL_NAMES = {"\r": "enter", "\n": "enter", "\t": "tab", "\x7f": "backspace",
                  "\x08": "ctrl-h", "\x00": "ctrl-space", "\x1c": "ctrl-\\", "\x1d": "ctrl-]",
                  "\x1e": "ctrl-^", "\x1f": "ctrl-_"}


@dataclass(frozen=True)
class Text:
    """Printable characters typed in a row (one read): insert them at once."""

    text: str


@dataclass(frozen=True)
class Key:
    """A named key: "up", "page_down", "ctrl-c", "alt-1", "ctrl-left", "escape", "f5" …"""

    name: str


@dataclass(frozen=True)
class Paste:
    """What the terminal pasted between bracketed-paste markers, line breaks included."""

    text: str


Event = Text | Key | Paste


def control_name(char: str) -> str:
    """The key name of one C0 control character (or DEL)."""
    if char in _CONTROL_NAMES:
        return _CONTROL_NAMES[char]
    return "ctrl-" + chr(ord(char) + 0x60)


class KeyDecoder:
    """Incremental: feed it whatever arrived; a sequence split across reads is kept for later.

    A lone Esc cannot be told from the start of a sequence until more arrives or time
    passes: `pending` says one is waiting, and the caller calls `flush()` after a short
    wait (curses waits 25 ms here) to have it as Key("escape").
    """

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""  # an unfinished escape sequence
        self._paste: list[str] | None = None  # inside a bracketed paste
        self._paste_size = 0
        self._after_cr = False  # swallow the LF of a CR LF, even across reads
        self._skipping = False  # inside an over-long CSI sequence: drop up to its end

    @property
    def pending(self) -> bool:
        """An Esc (or an unfinished sequence) waits for more input or for `flush()`."""
        return bool(self._held) and self._paste is None

    def feed(self, data: bytes | str) -> list[Event]:
        text = self._utf8.decode(data) if isinstance(data, bytes) else data
        return self._decode(self._held + text, final=False)

    def flush(self) -> list[Event]:
        """Give up waiting: what is held becomes keys (a lone Esc becomes Key("escape"))."""
        held, self._held = self._held, ""
        if self._paste is not None or not held:
            self._held = held if self._paste is not None else ""
            return []
        return self._decode(held, final=True)

    # ------------------------------------------------------------ decoding

    def _decode(self, text: str, final: bool) -> list[Event]:
        self._held = ""
        out: list[Event] = []
        run: list[str] = []
        i = 0
        n = len(text)

        def end_run() -> None:
            if run:
                out.append(Text("".join(run)))
                run.clear()

        while i < n:
            if self._paste is not None:
                i = self._in_paste(text, i, out, final)
                if i < 0:  # the end marker may be arriving: keep the tail
                    return out
                continue
            char = text[i]
            if self._skipping:
                self._skipping = "\x20" <= char <= "\x3f"
                i += 1
                continue
            if char == "\n" and self._after_cr:
                self._after_cr = False
                i += 1
                continue
            self._after_cr = char == "\r"
            if char == "\x1b":
                end_run()
                used = self._escape(text, i, out, final)
                if used < 0:
                    self._held = text[i:]
                    return out
                i += used
                continue
            if char < " " or char == "\x7f":
                end_run()
                out.append(Key(control_name(char)))
            elif "\x80" <= char < "\xa0":
                pass  # C1 controls: nothing a keyboard sends on a UTF-8 terminal
            else:
                run.append(char)
            i += 1
        end_run()
        return out

    def _escape(self, text: str, i: int, out: list[Event], final: bool) -> int:
        """Decode the sequence at text[i] (an Esc); characters used, or -1 to wait for more."""
        if i + 1 >= len(text):
            if final:
                out.append(Key("escape"))
                return 1
            return -1
        following = text[i + 1]
        if following in "[O":
            return self._csi_or_ss3(text, i, out, final)
        if following == "\x1b":
            out.append(Key("escape"))  # Esc Esc: the first is a key, the second starts anew
            return 1
        if following < " " or following == "\x7f":
            out.append(Key("alt-" + control_name(following)))
        else:
            out.append(Key("alt-" + following))
        return 2

    def _csi_or_ss3(self, text: str, i: int, out: list[Event], final: bool) -> int:
        introducer = text[i + 1]
        j = i + 2
        if introducer == "O":
            if j >= len(text):
                if final:
                    out.append(Key("alt-O"))
                    return 2
                return -1
            name = _LETTER_KEYS.get(text[j])
            if name is not None:
                out.append(Key(name))
            return j + 1 - i
        # CSI: parameter bytes 0x30-0x3F, intermediates 0x20-0x2F, one final 0x40-0x7E.
        while j < len(text) and j - i < MAX_SEQUENCE and "\x20" <= text[j] <= "\x3f":
            j += 1
        if j >= len(text):
            if final:
                out.append(Key("alt-["))
                return 2
            return -1
        if j - i >= MAX_SEQUENCE:
            self._skipping = True  # garbage: drop it all, up to and with its final byte
            return j - i
        if not "\x40" <= text[j] <= "\x7e":
            return j - i  # not a sequence we can read: drop what we looked at
        params, final_char = text[i + 2:j], text[j]
        self._csi_key(params, final_char, out)
        return j + 1 - i

    def _csi_key(self, params: str, final_char: str, out: list[Event]) -> None:
        if not all(c in "0123456789;" for c in params):
            return  # private or mouse reports (CSI < ..., CSI ? ...): not keys
        numbers = [int(part) if part else 1 for part in params.split(";")] if params else []
        modifier = _MODIFIERS.get(numbers[1], "") if len(numbers) > 1 else ""
        if final_char == "~":
            if numbers and numbers[0] == 200:
                self._paste, self._paste_size = [], 0
                return
            name = _TILDE_KEYS.get(numbers[0] if numbers else 0)
        else:
            name = _LETTER_KEYS.get(final_char)
        if name is not None:
            out.append(Key(modifier + name))

    def _in_paste(self, text: str, i: int, out: list[Event], final: bool) -> int:
        """Collect pasted text up to the end marker; the next index, or -1 to wait for more."""
        assert self._paste is not None
        end = text.find(PASTE_END, i)
        if end < 0:
            # keep a tail that could be the start of the end marker
            keep = next((k for k in range(min(len(PASTE_END) - 1, len(text) - i), 0, -1)
                         if PASTE_END.startswith(text[len(text) - k:])), 0)
            self._add_paste(text[i:len(text) - keep])
            if keep and not final:
                self._held = text[len(text) - keep:]
            elif keep:
                self._add_paste(text[len(text) - keep:])
            return -1
        self._add_paste(text[i:end])
        pasted = "".join(self._paste)
        self._paste = None
        out.append(Paste(pasted))
        return end + len(PASTE_END)

    def _add_paste(self, piece: str) -> None:
        assert self._paste is not None
        room = MAX_PASTE - self._paste_size
        if room > 0 and piece:
            piece = piece[:room]
            self._paste.append(piece)
            self._paste_size += len(piece)
