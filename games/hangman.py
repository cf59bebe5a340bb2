"""Hangman: the whole room guesses letters of a word before the gallows are complete."""

from __future__ import annotations

import functools
import importlib.resources
import random
import string
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

from games.base import (
    Game,
    GameCommand,
    GameError,
    GameOption,
    IllegalMoveError,
    InvalidMoveError,
    Outcome,
    Termination,
)

MAX_WRONG = 6
SECRET_MIN, SECRET_MAX = 3, 20
WIDTH = 40
_LETTERS = frozenset(string.ascii_lowercase)

# Stage n adds one body part; the rows below the beam are filled in this order:
# head, body, left arm, right arm, left leg, right leg.
_BODY = (
    ("      |", "      |", "      |"),
    ("  O   |", "      |", "      |"),
    ("  O   |", "  |   |", "      |"),
    ("  O   |", " /|   |", "      |"),
    ("  O   |", " /|\\  |", "      |"),
    ("  O   |", " /|\\  |", " /    |"),
    ("  O   |", " /|\\  |", " / \\  |"),
)


def gallows(stage: int) -> list[str]:
    """The gallows after `stage` wrong guesses (0..6), as 7 lines."""
    head, body, legs = _BODY[max(0, min(stage, MAX_WRONG))]
    return ["  +---+", "  |   |", head, body, legs, "      |", "========="]


def _is_word(text: str) -> bool:
    return bool(text) and set(text) <= _LETTERS


@functools.cache
def load_words() -> tuple[str, ...]:
    """The built-in word list (games/words.txt), one lowercase word per line."""
    text = importlib.resources.files("games").joinpath("words.txt").read_text(encoding="utf-8")
    return tuple(w for w in (line.strip() for line in text.splitlines()) if _is_word(w))


def clean_secret(secret: str) -> str:
    """Case-fold a chosen word; raise GameError unless it is 3-20 letters a-z.

    The message never quotes the word: it goes back to the setter's screen and log.
    """
    word = secret.strip().casefold() if isinstance(secret, str) else ""
    if not word:
        raise GameError("no secret word given")
    rule = f"the secret word must be {SECRET_MIN}-{SECRET_MAX} letters a-z"
    if not _is_word(word):
        raise GameError(f"{rule}, with no spaces, digits, accents or punctuation")
    if not SECRET_MIN <= len(word) <= SECRET_MAX:
        raise GameError(f"{rule}; yours has {len(word)}")
    return word


class Hangman(Game):
    """One seat (the starter); anyone in the room may guess.

    With options {"secret": WORD} the starter set the word and may not guess; otherwise
    the word comes from the built-in list and the starter guesses too. A move is a
    lowercase str: one letter is a letter guess, more letters a whole-word guess; a
    whole-word guess must be as long as the word (anything else is a typo, refused
    without costing a life).

    The room plays together. Its members are the *participants*: everyone who made
    at least one guess, plus the starter of a list-word round (they started it and
    are one of the room, guess or not). A setter is never a participant:

    - the word is found: every participant wins (not only the finisher); the setter
      loses;
    - six misses: every participant loses; the setter wins;
    - the starter resigns or runs out of time: a setter loses and the guessers win;
      a non-setting starter gives up for the room, so every participant loses.
    """

    name = "hangman"
    aliases = ("hang", "hm")
    description = "Guess the word one letter at a time before the man is hanged."
    how_to_play = "Type a letter to guess it; /guess WORD to guess the whole word. 6 misses lose."
    seats = 1
    open_play = True
    supports_bot = False
    move_verb: ClassVar[str] = "guessed"  # the host's notice: "bob guessed e"
    options = (GameOption(name="secret", kind="secret", prompt="secret word",
                          help="you choose the word (asked without echo); the room guesses"),)
    commands = (GameCommand(name="guess", usage="WORD", help="guess the whole word",
                            parse="parse_word_guess"),)

    def __init__(self, players: Sequence[str], *, secret: str, setter: bool) -> None:
        super().__init__(players)
        self._secret = clean_secret(secret)
        self._setter = bool(setter)
        self._guesses: list[tuple[str, str]] = []  # (player, move) in order
        self._check_length = True  # off only while replaying a game saved before the rule

    @classmethod
    def new(
        cls,
        players: Sequence[str],
        rng: random.Random,
        options: Mapping[str, str] | None = None,
    ) -> Self:
        options = dict(options or {})
        unknown = sorted(set(options) - {"secret"})
        if unknown:
            raise GameError(f"unknown hangman option(s) {unknown!r} (known: 'secret')")
        if "secret" in options:
            return cls(players, secret=options["secret"], setter=True)
        return cls(players, secret=rng.choice(load_words()), setter=False)

    # -- derived state ---------------------------------------------------------

    @property
    def setter(self) -> str | None:
        """Who chose the word, or None when it came from the word list."""
        return self._players[0] if self._setter else None

    @property
    def guessed_letters(self) -> frozenset[str]:
        return frozenset(m for _, m in self._guesses if len(m) == 1)

    @property
    def wrong_guesses(self) -> int:
        return sum(1 for _, m in self._guesses if not self._is_right(m))

    def _is_right(self, move: str) -> bool:
        return move in self._secret if len(move) == 1 else move == self._secret

    def _solved(self) -> bool:
        if any(m == self._secret for _, m in self._guesses):
            return True
        return set(self._secret) <= self.guessed_letters

    def masked(self) -> str:
        """The word with unguessed letters as '_', spaced: '_ p p _ e'."""
        shown = self.guessed_letters
        reveal = self.is_over
        return " ".join(c if reveal or c in shown else "_" for c in self._secret)

    def _participants(self) -> tuple[str, ...]:
        """The room's side: the starter (unless they set the word) and every guesser."""
        names = [] if self._setter else [self._players[0]]
        names += [p for p, _ in self._guesses]
        return tuple(dict.fromkeys(names))

    # -- rules ---------------------------------------------------------------

    def parse_move(self, text: str) -> str:
        """A single letter a-z (any case, whitespace ok) is a guess; anything else is not."""
        letter = text.strip().lower() if isinstance(text, str) else ""
        if len(letter) != 1 or letter not in _LETTERS:
            raise InvalidMoveError(f"not a hangman letter: {text!r}")
        return letter

    def parse_word_guess(self, text: str) -> str:
        """Parse `/guess WORD`: letters a-z only; a single letter is a letter guess."""
        word = text.strip().lower() if isinstance(text, str) else ""
        if not _is_word(word):
            raise InvalidMoveError(f"a guess must be letters a-z only, got {text!r}")
        if len(word) > SECRET_MAX:
            raise InvalidMoveError(f"a guess is at most {SECRET_MAX} letters, got {text!r}")
        return word

    def check_rules(self, move: Any, player: str) -> None:
        if not isinstance(move, str) or not _is_word(move) or len(move) > SECRET_MAX:
            raise InvalidMoveError(f"not a hangman guess: {move!r}")
        if self._setter and player == self._players[0]:
            raise IllegalMoveError("you set the word")
        if self._check_length and len(move) > 1 and len(move) != len(self._secret):
            # The length is on the board already; a wrong-length word is a typo.
            raise IllegalMoveError(f"the word has {len(self._secret)} letters")
        if any(m == move for _, m in self._guesses):
            raise IllegalMoveError(f"{move!r} was already guessed")

    def apply_move(self, move: Any, player: str) -> None:
        self._guesses.append((player, move))

    def result(self) -> Outcome | None:
        setter = (self._players[0],) if self._setter else ()
        word = repr(self._secret)
        if self._solved():
            finisher = self._guesses[-1][0]
            return Outcome(
                termination=Termination.WIN,
                winners=self._participants(),
                losers=setter,
                summary=f"the room wins - {finisher} found the word {word}",
            )
        if self.wrong_guesses >= MAX_WRONG:
            who = f"{setter[0]} wins" if setter else "the room loses"
            return Outcome(
                termination=Termination.WIN,
                winners=setter,
                losers=self._participants(),
                summary=f"the word was {word} - {who}",
            )
        return None

    def resign(self, player: str) -> None:
        self._only_starter_ends(player)
        super().resign(player)

    def forfeit(self, player: str) -> None:
        self._only_starter_ends(player)
        super().forfeit(player)

    def _only_starter_ends(self, player: str) -> None:
        if not self.is_over and player not in self._players:
            raise IllegalMoveError(f"only {self._players[0]} can end this game")

    def resign_outcome(self, player: str, termination: Termination) -> Outcome:
        did = "gave up" if termination is Termination.RESIGN else "ran out of time"
        summary = f"{player} {did} - the word was {self._secret!r}"
        if self._setter:  # the participants are exactly the guessers here
            return Outcome(
                termination=termination,
                winners=self._participants(),
                losers=(player,),
                summary=summary,
            )
        return Outcome(termination=termination, losers=self._participants(), summary=summary)

    # -- display ---------------------------------------------------------------

    def status(self) -> str:
        if self.is_over:
            return super().status()
        left = MAX_WRONG - self.wrong_guesses
        return f"{left} wrong guess{'' if left == 1 else 'es'} left"

    def describe(self) -> str:
        word = f"the word: {self.masked()}"
        if not self._guesses:
            return f"new game; {word} ({len(self._secret)} letters); {self.status()}"
        player, move = self._guesses[-1]
        verdict = "right" if self._is_right(move) else "wrong"
        what = "the word" if len(move) > 1 else "letter"
        return f"{player} guessed {what} {move!r} ({verdict}); {word}; {self.status()}"

    def render(self) -> list[str]:
        letters = sorted(self.guessed_letters)
        words = [m for _, m in self._guesses if len(m) > 1]
        guessed = " ".join(letters + words) or "-"
        lines = gallows(self.wrong_guesses)
        lines.append("")
        word = f"word:    {self.masked()}"
        lines.append(word if len(word) <= WIDTH else self.masked())
        lines += textwrap.wrap(
            f"guessed: {guessed}", width=WIDTH, subsequent_indent=" " * 9, break_on_hyphens=False
        )
        lines.append(f"wrong:   {self.wrong_guesses} of {MAX_WRONG}")
        return lines

    # -- saving ----------------------------------------------------------------

    def dump_state(self) -> dict[str, Any]:
        return {
            "secret": self._secret,
            "setter": self._setter,
            "guesses": [[player, move] for player, move in self._guesses],
        }

    @classmethod
    def load_state(cls, players: tuple[str, ...], state: Mapping[str, Any]) -> Self:
        game = cls(players, secret=state["secret"], setter=state["setter"])
        game._check_length = False  # a game saved before the length rule may break it
        for player, move in state["guesses"]:
            game.push(move, player)
        game._check_length = True
        return game
