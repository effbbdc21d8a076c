"""Words and phrases as a vocabulary list writes them, and whether a transcript says them.

A vocabulary entry may be a phrase (``give up``), carry an apostrophe (``o'clock``, typed
with a straight or a curly one) or be any script (``café``, ``naïve``). Entries are compared
in one form (:func:`normalise_word`: Unicode NFC, case folded, one kind of apostrophe and
dash, single spaces) and found in a transcript as whole words (:func:`occurs_in`), so
``art`` is not found in ``start`` nor ``can`` in ``can't``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

__all__ = [
    "normalise_text",
    "normalise_word",
    "occurrences",
    "occurs_in",
    "present_words",
    "word_key",
]

_APOSTROPHES = dict.fromkeys("\u2018\u2019\u02bc\u2032\u0060\u00b4", "'")
_DASHES = dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212", "-")
_FOLD = str.maketrans({**_APOSTROPHES, **_DASHES})
_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """``text`` in the one form words are compared in: NFC, case folded, straight
    apostrophes and hyphens, single spaces."""
    folded = unicodedata.normalize("NFC", text).translate(_FOLD).casefold()
    return _SPACES.sub(" ", folded).strip()


def normalise_word(word: str) -> str:
    """A vocabulary entry in comparable form; ValueError for one that holds no letter or
    digit (empty, punctuation only)."""
    normal = normalise_text(word).strip(" '\"-.,;:!?")
    if not any(ch.isalnum() for ch in normal):
        raise ValueError(f"{word!r} is not a word")
    return normal


def word_key(word: str) -> str:
    """A word as a document id: its normal form with ``/`` (a path separator in document
    stores) and control characters escaped, so every entry has one stable id."""
    normal = normalise_word(word)
    key = "".join(f"%{ord(ch):02X}" if ch in "/%" or ord(ch) < 32 else ch for ch in normal)
    if key.startswith("__") and key.endswith("__"):  # Firestore reserves __name__ ids
        key = "%5F" + key[1:]
    return key


@lru_cache(maxsize=8192)
def _pattern(normal: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in re.split(r"[ -]", normal) if part]
    body = r"[\s-]+".join(parts)
    # An apostrophe joins words only between letters: "can" is not in "can't", but
    # 'abandon' in quotes is the word.
    return re.compile(rf"(?<!\w)(?<!\w'){body}(?!\w)(?!'\w)")


def occurrences(word: str, text: str) -> int:
    """How many times ``word`` (or phrase) is said in ``text``, as whole words."""
    try:
        normal = normalise_word(word)
    except ValueError:
        return 0
    return len(_pattern(normal).findall(normalise_text(text)))


def occurs_in(word: str, text: str) -> bool:
    """Whether ``text`` says ``word`` (or the phrase) as whole words."""
    return occurrences(word, text) > 0


def present_words(words: Iterable[str], transcript: str) -> list[str]:
    """The vocabulary words a transcript says (whole words), sorted: a set lookup per word
    first, the exact whole-word match only for those whose every part is there."""
    tokens = set(_TOKEN.findall(normalise_text(transcript).replace("-", " ")))
    tokens |= {token.strip("'") for token in tokens}
    found = []
    for word in words:
        parts = _TOKEN.findall(word.replace("-", " "))
        if parts and all(part in tokens for part in parts) and occurs_in(word, transcript):
            found.append(word)
    return sorted(found)


_TOKEN = re.compile(r"[\w']+")
