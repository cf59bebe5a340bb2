"""Tests for games.hangman: guesses, word guesses, winning, losing, the setter, the list."""

from __future__ import annotations

import importlib.resources
import itertools
import json
import random

import pytest

from games.base import GameError, IllegalMoveError, InvalidMoveError, Outcome, Termination
from games.hangman import MAX_WRONG, Hangman, gallows, load_words


def with_secret(word: str = "apple", starter: str = "sam") -> Hangman:
    return Hangman.new([starter], random.Random(0), {"secret": word})


def from_list(seed: int = 0, starter: str = "sam") -> Hangman:
    return Hangman.new([starter], random.Random(seed))


def test_metadata() -> None:
    assert Hangman.seats == 1 and Hangman.open_play is True and Hangman.supports_bot is False
    assert Hangman.name == "hangman"
    assert Hangman.move_verb == "guessed"


@pytest.mark.parametrize(("text", "move"), [("e", "e"), ("E", "e"), (" q\n", "q")])
def test_parse_letter(text: str, move: str) -> None:
    assert with_secret().parse_move(text) == move


@pytest.mark.parametrize("text", ["", "ee", "apple", "1", "é", "?", "e e", "guess apple"])
def test_parse_not_a_letter(text: str) -> None:
    with pytest.raises(InvalidMoveError):
        with_secret().parse_move(text)


@pytest.mark.parametrize(("text", "move"), [("Apple", "apple"), (" grape ", "grape"), ("e", "e")])
def test_parse_word_guess(text: str, move: str) -> None:
    assert with_secret().parse_word_guess(text) == move


@pytest.mark.parametrize("text", ["", "app le", "app1e", "don't", "a" * 21, "café"])
def test_parse_word_guess_rejects(text: str) -> None:
    with pytest.raises(InvalidMoveError):
        with_secret().parse_word_guess(text)


def test_win_by_letters_every_guesser_wins() -> None:
    game = with_secret("apple")
    for letter, player in [("a", "ann"), ("z", "bob"), ("p", "bob"), ("l", "cy")]:
        game.play(letter, player)
        assert not game.is_over
    assert game.masked() == "a p p l _"
    game.play("E", "ann")
    assert game.outcome() == Outcome(
        termination=Termination.WIN,
        winners=("ann", "bob", "cy"),  # cooperative: not only the finisher
        losers=("sam",),
        summary="the room wins - ann found the word 'apple'",
    )
    assert game.status() == "the room wins - ann found the word 'apple'"


def test_win_by_word_guess() -> None:
    game = with_secret("apple")
    game.play("p", "ann")
    game.push(game.parse_word_guess("APPLE"), "bob")
    assert game.outcome().winners == ("ann", "bob")
    assert game.outcome().losers == ("sam",)
    assert game.masked() == "a p p l e"


def test_win_without_setter_has_no_losers() -> None:
    game = from_list()
    word = game.to_json()["state"]["secret"]
    game.push(game.parse_word_guess(word), "sam")
    assert game.outcome() == Outcome(
        termination=Termination.WIN,
        winners=("sam",),
        summary=f"the room wins - sam found the word {word!r}",
    )


def test_win_without_setter_the_starter_wins_with_the_room() -> None:
    # The starter of a list-word round is one of the room even if others did the guessing.
    game = from_list()
    word = game.to_json()["state"]["secret"]
    game.play("z" if "z" not in word else "q", "ann")
    game.push(word, "bob")
    outcome = game.outcome()
    assert outcome.winners == ("sam", "ann", "bob") and outcome.losers == ()


def test_someone_who_never_guessed_is_not_counted() -> None:
    game = with_secret("apple")
    game.play("a", "ann")
    game.push("apple", "ann")
    assert game.outcome().winners == ("ann",)  # bob watched: neither winner nor loser


@pytest.mark.parametrize(
    "guesses",
    [
        ["z", "q", "x", "j", "k", "v"],
        ["grape", "z", "lemon", "q", "mango", "x"],
        ["aaaaa", "bbbbb", "ccccc", "ddddd", "fffff", "ggggg"],
    ],
)
def test_lose_after_six_wrong(guesses: list[str]) -> None:
    game = with_secret("apple")
    players = ["ann", "bob"]
    for n, guess in enumerate(guesses):
        assert not game.is_over
        assert game.status() == f"{MAX_WRONG - n} wrong guess{'' if n == 5 else 'es'} left"
        game.push(game.parse_word_guess(guess), players[n % 2])
    assert game.wrong_guesses == 6
    assert game.outcome() == Outcome(
        termination=Termination.WIN,
        winners=("sam",),
        losers=("ann", "bob"),
        summary="the word was 'apple' - sam wins",
    )
    with pytest.raises(IllegalMoveError, match="the game is over"):
        game.play("a", "ann")


def test_lose_without_setter_the_room_loses() -> None:
    game = Hangman.new(["sam"], random.Random(0))
    secret = game.to_json()["state"]["secret"]
    wrong = [c for c in "zqxjkvwyfbgmhupcdl" if c not in secret][:6]
    for letter in wrong:
        game.play(letter, "bob")
    outcome = game.outcome()
    assert outcome.winners == () and outcome.losers == ("sam", "bob")
    assert outcome.summary == f"the word was {secret!r} - the room loses"


@pytest.mark.parametrize(("guess", "letters"), [("xy", 5), ("apples", 5), ("grapefruit", 5)])
def test_word_guess_of_the_wrong_length_costs_nothing(guess: str, letters: int) -> None:
    game = with_secret("apple")
    game.play("p", "ann")
    before = game.to_json()
    with pytest.raises(IllegalMoveError, match=f"^the word has {letters} letters$"):
        game.push(game.parse_word_guess(guess), "bob")
    assert game.to_json() == before and game.wrong_guesses == 0
    game.push(game.parse_word_guess("grape"), "bob")  # the right length is a real guess
    assert game.wrong_guesses == 1


def test_a_game_saved_before_the_length_rule_still_resumes() -> None:
    data = with_secret("apple").to_json()
    data["state"]["guesses"] = [["ann", "xy"], ["bob", "p"]]
    game = Hangman.from_json(data)
    assert game.wrong_guesses == 1 and game.masked() == "_ p p _ _"
    with pytest.raises(IllegalMoveError, match="the word has 5 letters"):
        game.push("yz", "ann")  # new guesses follow the rule


def test_right_letters_do_not_count_as_wrong() -> None:
    game = with_secret("apple")
    game.play("a", "ann")
    game.play("z", "ann")
    assert game.wrong_guesses == 1 and game.status() == "5 wrong guesses left"


@pytest.mark.parametrize(
    ("first", "again", "message"),
    [
        ("e", "E", "'e' was already guessed"),
        ("z", "z", "'z' was already guessed"),
        ("grape", "grape", "'grape' was already guessed"),
    ],
)
def test_repeated_guess(first: str, again: str, message: str) -> None:
    game = with_secret("apple")
    game.push(game.parse_word_guess(first), "ann")
    before = game.to_json()
    with pytest.raises(IllegalMoveError, match=f"^{message}$"):
        game.push(game.parse_word_guess(again), "bob")
    assert game.to_json() == before


def test_setter_cannot_guess() -> None:
    game = with_secret("apple", starter="sam")
    with pytest.raises(IllegalMoveError, match="^you set the word$"):
        game.play("a", "sam")
    with pytest.raises(IllegalMoveError, match="^you set the word$"):
        game.push("apple", "sam")
    assert game.setter == "sam" and game.turn() is None


def test_starter_may_guess_a_listed_word() -> None:
    game = from_list()
    game.play("e", "sam")
    assert game.setter is None


@pytest.mark.parametrize(
    ("secret", "stored"),
    [("Apple", "apple"), (" cat ", "cat"), ("a" * 20, "a" * 20), ("STRASSE", "strasse")],
)
def test_secret_is_case_folded(secret: str, stored: str) -> None:
    assert with_secret(secret).to_json()["state"]["secret"] == stored


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("", "no secret word given"),
        ("  ", "no secret word given"),
        ("ab", "the secret word must be 3-20 letters a-z; yours has 2"),
        ("a" * 21, "the secret word must be 3-20 letters a-z; yours has 21"),
        ("two words", "the secret word must be 3-20 letters a-z, with no spaces, digits,"),
        ("l33t", "the secret word must be 3-20 letters a-z, with no spaces, digits,"),
        ("café", "the secret word must be 3-20 letters a-z, with no spaces, digits,"),
        ("don't", "the secret word must be 3-20 letters a-z, with no spaces, digits,"),
    ],
)
def test_bad_secret_is_explained_without_quoting_it(secret: str, message: str) -> None:
    with pytest.raises(GameError) as caught:
        with_secret(secret)
    assert str(caught.value).startswith(message)
    assert "got" not in str(caught.value)
    if secret.strip():
        assert secret not in str(caught.value)


def test_unknown_option() -> None:
    with pytest.raises(GameError, match="unknown"):
        Hangman.new(["sam"], random.Random(0), {"word": "apple"})


def test_rng_picks_from_list() -> None:
    words = set(load_words())
    picks = {from_list(seed).to_json()["state"]["secret"] for seed in range(20)}
    assert picks <= words and len(picks) > 1
    assert from_list(7).to_json() == from_list(7).to_json()


def test_word_list() -> None:
    text = importlib.resources.files("games").joinpath("words.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(set(lines)) >= 500
    bad = [w for w in lines if not (w.isascii() and w.isalpha() and w.islower())]
    bad += [w for w in lines if not 4 <= len(w) <= 10]
    assert bad == []
    assert len(load_words()) == len(lines)


def test_gallows_changes_each_stage() -> None:
    stages = [tuple(gallows(n)) for n in range(7)]
    assert len(set(stages)) == 7
    assert all(len(stage) == 7 for stage in stages)
    for before, after in itertools.pairwise(stages):
        assert sum(c != " " for c in "".join(after)) == sum(c != " " for c in "".join(before)) + 1


def test_render_tracks_wrong_guesses() -> None:
    game = with_secret("apple")
    seen = [tuple(game.render()[:7])]
    for letter in "zqxjkv":
        game.play(letter, "ann")
        seen.append(tuple(game.render()[:7]))
    assert seen == [tuple(gallows(n)) for n in range(7)]


def test_render_text() -> None:
    game = with_secret("apple")
    for letter in "pz":
        game.play(letter, "ann")
    game.push("grape", "bob")
    lines = game.render()
    assert "word:    _ p p _ _" in lines
    assert "guessed: p z grape" in lines
    assert "wrong:   2 of 6" in lines
    assert "apple" not in "\n".join(lines)


def test_render_fits_and_reveals_at_end() -> None:
    game = with_secret("a" * 19 + "b")
    for letter in "cdefg":
        game.play(letter, "ann")
    game.push("a" * 20, "bob")
    assert game.is_over
    lines = game.render()
    assert "a " * 19 + "b" in lines
    for line in lines:
        assert len(line) <= 40 and line.isascii() and "\t" not in line


@pytest.mark.parametrize(
    ("secret_opts", "method", "termination", "winners", "losers", "summary"),
    [
        (
            {"secret": "apple"},
            "resign",
            Termination.RESIGN,
            ("ann", "bob"),
            ("sam",),
            "sam gave up - the word was 'apple'",
        ),
        (
            {"secret": "apple"},
            "forfeit",
            Termination.FORFEIT,
            ("ann", "bob"),
            ("sam",),
            "sam ran out of time - the word was 'apple'",
        ),
        ({}, "resign", Termination.RESIGN, (), ("sam", "ann", "bob"), None),
        ({}, "forfeit", Termination.FORFEIT, (), ("sam", "ann", "bob"), None),
    ],
)
def test_resign(
    secret_opts: dict[str, str],
    method: str,
    termination: Termination,
    winners: tuple[str, ...],
    losers: tuple[str, ...],
    summary: str | None,
) -> None:
    game = Hangman.new(["sam"], random.Random(0), secret_opts)
    for letter, player in [("q", "ann"), ("x", "bob"), ("j", "ann")]:
        game.play(letter, player)
    with pytest.raises(IllegalMoveError, match="only sam can end this game"):
        getattr(game, method)("ann")
    getattr(game, method)("sam")
    outcome = game.outcome()
    assert (outcome.termination, outcome.winners, outcome.losers) == (termination, winners, losers)
    if summary is not None:
        assert outcome.summary == summary
    assert game.is_over


def test_json_round_trip_mid_game() -> None:
    game = with_secret("apple")
    game.play("p", "ann")
    game.push("grape", "bob")
    data = json.loads(json.dumps(game.to_json()))
    copy = Hangman.from_json(data)
    assert copy.to_json() == game.to_json() and copy.render() == game.render()
    assert copy.status() == game.status() == "5 wrong guesses left"
    with pytest.raises(IllegalMoveError, match="you set the word"):
        copy.play("a", "sam")
    copy.play("a", "cy")
    assert "a" not in game.guessed_letters


def test_from_json_rejects_tampering() -> None:
    data = with_secret("apple").to_json()
    data["state"]["guesses"] = [["ann", "e"], ["bob", "e"]]
    with pytest.raises(GameError):
        Hangman.from_json(data)
    data["state"] = {"secret": "no!", "setter": True, "guesses": []}
    with pytest.raises(GameError):
        Hangman.from_json(data)
