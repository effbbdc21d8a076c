"""What the models propose is checked: candidate mappings (vocabulary, transcript, score,
count) and the final approval merged with the words heard in the audio."""

from __future__ import annotations

from shared.discovery.mappings import (
    AudioWord,
    CandidateAnswer,
    FinalAnswer,
    WordMapping,
    find_in_audio,
    merge_final,
    validate_mappings,
)
from shared.discovery.subtitles import parse_cues

TRANSCRIPT = "Don't abandon me! I have the ability to give up. Abandon ship, abandon hope."
VOCABULARY = {"abandon", "ability", "give up", "hope", "ship", "brave", "me"}


def answer(*mappings: tuple[str, float]) -> CandidateAnswer:
    return CandidateAnswer.model_validate(
        {"mappings": [{"word": w, "relevance_score": s, "reason": f"r {w}"} for w, s in mappings]}
    )


def test_candidate_mappings_are_checked():
    kept, refused = validate_mappings(
        answer(
            ("Abandon", 0.9),
            ("brave", 0.95),  # in the vocabulary, never said
            ("courage", 0.9),  # said nowhere and not listed
            ("ability", 0.5),  # under the minimum
            ("give up", 0.8),
            ("abandon", 0.7),  # proposed twice: the better one counts
            ("ship", 0.65),
            ("hope", 0.61),
            ("me", 0.6),  # at the minimum, but over the maximum number of mappings
        ),
        transcript=TRANSCRIPT,
        vocabulary=VOCABULARY,
        min_score=0.6,
        max_mappings=4,
    )
    assert [(m.word, m.relevance_score) for m in kept] == [
        ("abandon", 0.9),
        ("give up", 0.8),
        ("ship", 0.65),
        ("hope", 0.61),
    ]
    reasons = {r.word: r.reason for r in refused}
    assert reasons["brave"] == "not said in the clip's transcript"
    assert reasons["courage"] == "not in the vocabulary list"
    assert reasons["ability"].startswith("relevance 0.50 under 0.60")
    assert reasons["me"] == "over the 4 mappings a clip may have"


HEARD = [
    AudioWord("Don't", 0.0, 0.3, 0.9),
    AudioWord("abandon", 0.3, 0.8, 0.35),  # said, but barely heard
    AudioWord("me!", 0.8, 1.0, 0.9),
    AudioWord("give", 2.0, 2.2, 0.95),
    AudioWord("up.", 2.2, 2.4, 0.7),
    AudioWord("Abandon", 3.0, 3.4, 0.92),  # heard well the second time
    AudioWord("ship,", 3.4, 3.8, None),
]


def test_words_are_found_in_the_audio_with_their_time_and_confidence():
    assert find_in_audio("abandon", HEARD, min_confidence=0.5) == (3.0, 0.92)
    assert find_in_audio("abandon", HEARD, min_confidence=0.3) == (0.3, 0.35)
    assert find_in_audio("give up", HEARD, min_confidence=0.5) == (2.0, 0.7)  # the phrase's least
    assert find_in_audio("give up", HEARD, min_confidence=0.8) is None
    assert find_in_audio("ship", HEARD, min_confidence=0.99) == (3.4, None)  # no confidence: heard
    assert find_in_audio("hope", HEARD, min_confidence=0.1) is None


def test_the_final_approval_is_merged_with_the_audio():
    mapped = [
        WordMapping("abandon", 0.9, "r"),
        WordMapping("give up", 0.8, "r"),
        WordMapping("hope", 0.7, "r"),
        WordMapping("ship", 0.65, "r"),
    ]
    final = FinalAnswer.model_validate(
        {
            "final_approval": True,
            "approved_words": ["ABANDON", "give up", "ship", "brave"],
            "final_scores": [
                {"word": "abandon", "score": 0.95},
                {"word": "ship", "score": 0.4},
            ],
        }
    )
    kept, refused = merge_final(mapped, final, heard=HEARD, min_score=0.6, min_confidence=0.5)
    assert [(m.word, m.relevance_score, m.transcript_source, m.timestamp) for m in kept] == [
        ("abandon", 0.95, "audio", 3.0),  # the final score replaces the candidate's
        ("give up", 0.8, "audio", 2.0),  # no final score: the candidate's stays
    ]
    reasons = {r.word: r.reason for r in refused}
    assert reasons == {
        "brave": "approved but never mapped to this clip",
        "hope": "not approved by the final analysis",
        "ship": "final score 0.40 under 0.60",
    }
    # a word heard too faintly is mapped from the catalogue's transcript
    kept, _ = merge_final(mapped[:1], final, heard=HEARD[:3], min_score=0.6, min_confidence=0.5)
    assert (kept[0].transcript_source, kept[0].timestamp) == ("metadata", None)


def test_a_clip_not_approved_keeps_no_word():
    final = FinalAnswer(
        final_approval=False,
        approved_words=["abandon"],
        final_scores=[],
        reason="the word is drowned out by music",
    )
    kept, refused = merge_final(
        [WordMapping("abandon", 0.9, "r")], final, heard=HEARD, min_score=0.6, min_confidence=0.5
    )
    assert kept == []
    assert refused[0].reason == "the word is drowned out by music"


def test_subtitles_in_every_shape_become_cues():
    srt = (
        "1\n00:00:01,500 --> 00:00:03,000\n<i>Don't abandon</i> me!\n\n"
        "2\n00:00:04,000 --> 00:00:05,250\nNever.\n"
    )
    vtt = (
        "WEBVTT\n\n00:01.500 --> 00:03.000\nDon't abandon me!\n\n"
        "00:04.000 --> 00:05.250 align:start\nNever.\n"
    )
    for text in (srt, vtt):
        cues = parse_cues(text)
        assert [(c.start, c.end, c.text) for c in cues] == [
            (1.5, 3.0, "Don't abandon me!"),
            (4.0, 5.25, "Never."),
        ]
    listed = parse_cues(
        [
            {"start": "00:00:04,000", "end": 5.25, "text": "Never."},
            {"start": 1.5, "end": 3, "text": "Hi"},
            {"start": 9, "end": 2, "text": "backwards"},
            "junk",
            {"text": "untimed"},
        ]
    )
    assert [(c.start, c.text) for c in listed] == [(1.5, "Hi"), (4.0, "Never.")]
    assert parse_cues(None) == []
    assert parse_cues(42) == []
