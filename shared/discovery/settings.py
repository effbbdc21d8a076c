"""Settings of word-driven video discovery: the clip source, the models, the limits."""

from __future__ import annotations

from typing import Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

from shared.llm.settings import LlmSettings
from shared.media.settings import MediaSettings


class DiscoverySettings(LlmSettings, MediaSettings):
    """Where clips are searched, which models judge and hear them, and how far a run goes."""

    clipcafe_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices(
            "CLIPCAFE_API_KEY", "VIDCURATE_CLIPCAFE_API_KEY", "clipcafe_api_key"
        ),
        description="ClipCafe API key (Secret Manager: clipcafe-api-key). Never logged.",
    )
    clipcafe_base_url: str = Field(
        "https://api.clip.cafe/", description="ClipCafe's API (another one for tests)."
    )
    clip_source: str = Field(
        "clipcafe",
        description=(
            "Where `discover run` searches by default: 'clipcafe', or a folder of clips in "
            "ClipCafe's shape (<word>/<slug>_NN.mp4 + .json)."
        ),
    )
    clip_search_per_minute: float = Field(
        10.0,
        gt=0,
        description="Searches per minute for the whole account, every instance together.",
    )
    clip_search_max_wait_seconds: float = Field(
        60.0,
        gt=0,
        le=400,
        description=(
            "Longest a search waits for its turn before its message is retried later "
            "(below the search function's timeout)."
        ),
    )
    clip_link_seconds: float = Field(
        300.0,
        gt=0,
        description="How long a search's download links stay valid (ClipCafe: 5 minutes).",
    )
    clip_language: str = Field(
        "English", description="The catalogue's name of the language searched (movie_language)."
    )
    clip_min_seconds: int = Field(1, ge=0, description="Shortest clip searched.")
    clip_max_seconds: int = Field(15, ge=1, description="Longest clip searched.")
    clip_max_bytes: int = Field(
        200 << 20, gt=0, description="Largest clip downloaded (checked while it downloads)."
    )
    candidate_model: str = Field(
        "gpt-4o-mini", description="The model that maps a clip to the words it teaches."
    )
    final_model: str = Field(
        "gpt-4o-2024-08-06",
        description="The model that confirms the mappings with both transcripts.",
    )
    transcription_model: str = Field(
        "whisper-1", description="Speech-to-text model (word timestamps)."
    )
    min_relevance_score: float = Field(
        0.6, ge=0, le=1, description="Lowest relevance a mapping keeps (--min-score)."
    )
    max_mappings_per_video: int = Field(
        5, ge=1, le=50, description="Most words one clip is mapped to (--max-mappings)."
    )
    max_videos_per_word: int = Field(
        100, ge=1, le=1000, description="Most clips kept per word (--max-videos)."
    )
    min_word_confidence: float = Field(
        0.5,
        ge=0,
        le=1,
        description=(
            "Lowest speech-to-text confidence at which a word counts as heard in the audio "
            "(words without a confidence, as offline, count as heard)."
        ),
    )
    max_upload_bytes: int = Field(
        24 << 20, gt=0, description="Largest video the batch-upload API takes."
    )
    max_upload_batch_bytes: int = Field(
        32 << 20,
        gt=0,
        description=(
            "Largest batch-upload body, refused before it is read (Cloud Run takes at most "
            "32 MiB per HTTP/1 request; a video is 4/3 its size in base64)."
        ),
    )
    discovery_api_tokens: list[SecretStr] = Field(
        default_factory=list,
        description=(
            "Bearer tokens that may call the admin API (POST /v3/admin/...), a JSON list "
            "(Secret Manager discovery-api-tokens in the cloud). Never logged."
        ),
    )

    @field_validator("clipcafe_api_key", mode="before")
    @classmethod
    def _empty_key_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _discovery_models_are_priced(self) -> Self:
        """Each configured model has a price: a typo must not run at "$0" past every cap."""
        for model, source in (
            (self.candidate_model, "VIDCURATE_CANDIDATE_MODEL"),
            (self.final_model, "VIDCURATE_FINAL_MODEL"),
        ):
            problem = self.unpriced_message(model, source)
            if problem:
                raise ValueError(problem)
        problem = self.unpriced_transcription_message(
            self.transcription_model, "VIDCURATE_TRANSCRIPTION_MODEL"
        )
        if problem:
            raise ValueError(problem)
        if self.clip_min_seconds > self.clip_max_seconds:
            raise ValueError("clip_min_seconds is above clip_max_seconds")
        return self
