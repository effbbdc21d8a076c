"""Vocabulary words as lists write them, and whether a transcript says them (whole words,
one form for case, apostrophes, dashes and Unicode)."""

from __future__ import annotations

import pytest

from shared.core.words import normalise_word, occurrences, occurs_in, word_key


@pytest.mark.parametrize(
    ("word", "text", "count"),
    [
        ("art", "Start the art show.", 1),  # not inside "start"
        ("can", "I can't, but you can.", 1),  # not in "can't"
        ("give up", "Never GIVE-UP, never give\nup!", 2),  # a phrase over a dash or a line
        ("o\u2019clock", "at five o'clock sharp", 1),  # curly and straight apostrophes
        ("café", "Un CAFÉ noir, un cafe crème", 1),  # Unicode case, the accent matters
        ("naïve", "so nai\u0308ve", 1),  # NFC: a combining diaeresis is the same letter
        ("abandon", "'abandon' ship!", 1),  # quoted
        ("bob", "bob's car", 0),  # a possessive is another form
        ("ability", "", 0),
    ],
)
def test_whole_words_in_one_form(word, text, count):
    assert occurrences(word, text) == count
    assert occurs_in(word, text) is (count > 0)


def test_normal_forms_and_keys():
    assert normalise_word("  Give   UP ") == "give up"
    assert normalise_word("Rock\u2019n\u2019roll") == "rock'n'roll"
    assert word_key("AC/DC") == "ac%2Fdc"  # a path separator cannot reach a document path
    assert word_key("__init__") == "%5F_init__"  # Firestore reserves ids like __name__
    with pytest.raises(ValueError, match="not a word"):
        normalise_word(" ... ")
    assert occurrences("...", "anything") == 0
