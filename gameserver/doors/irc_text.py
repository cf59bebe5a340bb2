"""Text between IRC and play: formatting codes, CTCP ACTION, coloured boards, paced sending."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# mIRC formatting: bold, colour (with up to two 2-digit numbers), hex colour, reset,
# monospace, reverse, italics, strike-through, underline.
_FORMATTING = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
    r"|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
BOLD, COLOUR, RESET = "\x02", "\x03", "\x0f"
# mIRC colour numbers
WHITE, BLACK, BLUE, GREEN, RED, BROWN, PURPLE, ORANGE, YELLOW, LIME, TEAL, CYAN, ROYAL, PINK, \
    GREY, SILVER = range(16)
CTCP = "\x01"

# Board pieces worth a colour where the client shows them: the same colour for a piece in
# every game, and nothing else coloured, so a board stays readable.
PIECE_COLOURS = {"X": RED, "O": BLUE, "●": RED, "○": YELLOW, "#": GREY}


def strip_formatting(text: str) -> str:
    """IRC text without its colour and style codes, as a play client should see it."""
    if not any(c in text for c in "\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f"):
        return text
    return _FORMATTING.sub("", text)


def parse_action(text: str) -> str | None:
    """The text of a CTCP ACTION (/me waves → "waves"), or None if `text` is not one."""
    if not text.startswith(CTCP + "ACTION"):
        return None
    body = text[len(CTCP + "ACTION"):]
    if body and not body.startswith(" ") and body != CTCP:
        return None
    return body.strip(" ").removesuffix(CTCP)


def is_ctcp(text: str) -> bool:
    return text.startswith(CTCP)


def colour_board_line(line: str) -> str:
    """Colour the pieces on one board line; everything else stays as it is."""
    out: list[str] = []
    for char in line:
        colour = PIECE_COLOURS.get(char)
        out.append(f"{COLOUR}{colour:02d}{char}{COLOUR}" if colour is not None else char)
    return "".join(out)


def board_notices(lines: Iterable[str], colour: bool) -> list[str]:
    """A board as NOTICE texts: each line kept whole (an empty one becomes a space).

    Monospace is asked for (\\x11) where colour is on, so clients that honour it align
    the board even in a proportional font.
    """
    out: list[str] = []
    for line in lines:
        text = line if line.strip() else " "
        out.append(colour_board_line(text) if colour else text)
    return out


@dataclass
class Pacer:
    """When to send each line so a burst never trips a client's or a bouncer's flood guard.

    `burst` lines go at once, then one every `interval` seconds (GCRA, a token bucket
    in one number). `delay(now)` books the next line and returns how long to wait
    before sending it, counting the lines booked before it. Pure: the door brings the clock.
    """

    burst: int = 5
    interval: float = 0.4
    _tat: float = field(default=float("-inf"))  # when the bucket is next empty again

    def delay(self, now: float) -> float:
        tat = max(self._tat, now)
        send_at = max(now, tat - (self.burst - 1) * self.interval)
        self._tat = tat + self.interval
        return send_at - now

    def idle(self, now: float) -> bool:
        """Nothing booked is still waiting to go."""
        return self._tat - self.burst * self.interval <= now
