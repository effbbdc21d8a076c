"""Speech to text through the model layer: OpenAI's transcription API over the real SDK
against the fake server (multipart audio, word timestamps, confidences), an OpenAI-compatible
server by base URL, the offline transcriber from subtitles, one retry layer, and the ledger
priced per audio minute."""

from __future__ import annotations

import io
import math
import wave

import pytest
from llmfake import DEFAULT_OPENAI_KEY, FakeLLM, llm_server_fixture  # noqa: F401 (fixture)

from shared.adapters.local import build_local_services
from shared.adapters.models.openai_speech import OpenAITranscriber
from shared.bootstrap import build_transcribers
from shared.config import Settings
from shared.core.errors import ConfigError
from shared.llm.ledger import MODEL_CALLS
from shared.llm.speech import TranscriptionClient
from shared.ports.speech import Cue, ModelRequestError, TranscriptionRequest


def wav(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


def settings_for(tmp_path, llm_server: FakeLLM, **extra) -> Settings:
    return Settings(
        _env_file=None,
        home=tmp_path,
        openai_api_key=DEFAULT_OPENAI_KEY,
        transcription_base_url=llm_server.openai_base_url,
        model_max_retries=2,
        **extra,
    )


def test_whisper_gets_the_audio_as_multipart_and_answers_word_timestamps(llm_server):
    audio = wav(1.5)
    llm_server.heard = [("Don't", 0.0, 0.3), ("abandon", 0.3, 0.9), ("me.", 0.9, 1.2)]
    transcriber = OpenAITranscriber(api_key=DEFAULT_OPENAI_KEY, base_url=llm_server.openai_base_url)
    transcript = transcriber.transcribe(
        TranscriptionRequest(model="whisper-1", audio=audio, language="en")
    )
    (sent,) = llm_server.transcriptions
    assert sent["model"] == "whisper-1"
    assert sent["response_format"] == "verbose_json"
    assert sent["timestamp_granularities[]"] == ["word", "segment"]
    assert sent["language"] == "en"
    assert sent["file"] == {"filename": "audio.wav", "content_type": "audio/wav", "data": audio}
    assert [(w.word, w.start, w.end) for w in transcript.words] == [
        ("Don't", 0.0, 0.3),
        ("abandon", 0.3, 0.9),
        ("me.", 0.9, 1.2),
    ]
    # whisper-1 gives no word probability: the segment's mean log-probability stands in
    assert transcript.words[1].confidence == pytest.approx(math.exp(-0.2))
    assert (transcript.text, transcript.language, transcript.duration_seconds) == (
        "Don't abandon me.",
        "english",
        1.2,
    )


def test_a_faster_whisper_servers_word_probabilities_are_kept(llm_server):
    llm_server.heard = [("ability", 0.0, 0.5, 0.42)]
    transcriber = OpenAITranscriber(
        api_key="none", base_url=llm_server.openai_base_url, name="openai-compatible"
    )
    llm_server.openai_key = "none"
    transcript = transcriber.transcribe(
        TranscriptionRequest(model="Systran/faster-whisper-small", audio=wav())
    )
    assert transcript.words[0].confidence == pytest.approx(0.42)


def test_the_client_retries_prices_per_minute_and_records_the_call(tmp_path, llm_server):
    settings = settings_for(tmp_path, llm_server)
    _blobs, documents, _bus = build_local_services(settings)
    client = TranscriptionClient(
        settings, documents, build_transcribers(settings), sleep=lambda s: None
    )
    llm_server.fail_next(r"/audio/transcriptions", 429, retry_after="0")
    result = client.transcribe(
        wav(90), model="whisper-1", audio_seconds=90.0, labels={"kind": "discovery"}
    )
    assert result.provider == "openai-compatible"
    assert result.attempts == 2
    assert result.cost_usd == pytest.approx(0.009)  # 1.5 minutes at $0.006
    (call,) = documents.iter_collection(MODEL_CALLS)
    assert call.data["audio_seconds"] == 90.0
    assert call.data["cost_usd"] == pytest.approx(0.009)
    assert call.data["prompt_name"] == "transcription"
    assert call.data["labels"] == {"kind": "discovery"}


def test_an_unpriced_model_is_refused_before_anything_is_sent(tmp_path, llm_server):
    settings = settings_for(tmp_path, llm_server)
    _blobs, documents, _bus = build_local_services(settings)
    client = TranscriptionClient(settings, documents, build_transcribers(settings))
    with pytest.raises(ConfigError, match="VIDCURATE_TRANSCRIPTION_PRICES"):
        client.transcribe(wav(), model="whisper-large-v9", audio_seconds=1.0)
    assert llm_server.transcriptions == []


def test_a_refused_key_is_one_permanent_error_without_the_key(llm_server):
    transcriber = OpenAITranscriber(
        api_key="sk-wrong-" + "x" * 20, base_url=llm_server.openai_base_url
    )
    with pytest.raises(ModelRequestError, match="HTTP 401") as refused:
        transcriber.transcribe(TranscriptionRequest(model="whisper-1", audio=wav()))
    assert "sk-wrong-" not in str(refused.value)


def test_offline_the_words_come_from_the_subtitles(tmp_path):
    settings = Settings(_env_file=None, home=tmp_path, llm_provider="offline")
    _blobs, documents, _bus = build_local_services(settings)
    client = TranscriptionClient(settings, documents, build_transcribers(settings))
    result = client.transcribe(
        wav(),
        model="whisper-1",
        audio_seconds=4.0,
        language="en",
        cues=[Cue(1.0, 2.0, "Don't abandon me!"), Cue(3.0, 3.5, "Never.")],
    )
    words = result.transcript.words
    assert [w.word for w in words] == ["Don't", "abandon", "me", "Never"]
    assert words[0].start == 1.0
    assert words[2].end == pytest.approx(2.0)
    assert words[1].start == pytest.approx(1 + 5 / 14, abs=0.001)
    assert words[3].start == 3.0
    assert all(w.confidence is None for w in words)  # nobody heard them
    assert (result.provider, result.model, result.cost_usd) == ("offline", "offline-whisper-1", 0.0)
    assert result.transcript.text == "Don't abandon me! Never."
