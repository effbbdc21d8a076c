"""Settings of frame labelling: the label schema, the queues' salt and overlap share, where
the active-learning queue is, and who administers the labelling web app.

Frames per clip are not set here: annotators label the frames ``extract_frames`` samples
(``VIDCURATE_FRAME_SAMPLING``), so the media settings are part of these.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from shared.learning.schema import LabelSchema
from shared.media import MediaSettings

__all__ = ["LabelSettings"]


class LabelSettings(MediaSettings):
    """``VIDCURATE_LABEL_*`` and ``VIDCURATE_WEB_*``."""

    label_schema: LabelSchema = Field(
        default_factory=LabelSchema,
        description=(
            "The tasks and their classes (JSON): "
            '{"tasks": {"perspective": ["first_person", "third_person", "overhead"], '
            '"distance": ["close", "medium", "far"]}} by default.'
        ),
    )
    label_salt: str = Field(
        "vidcurate",
        min_length=1,
        description=(
            "Seeds every annotator's order (md5(annotator + salt)); a new salt gives everyone "
            "a new order (labels are kept)."
        ),
    )
    label_overlap_share: float = Field(
        0.1,
        ge=0,
        le=1,
        description=(
            "Share of frames every annotator labels early, at the front of each batch, so "
            "agreement is known from the first day."
        ),
    )
    label_queue_document: str = Field(
        "label_queues/current",
        description=(
            "The active-learning queue: a document {version, frame_ids} written by the "
            "active-learning round; its frames lead every queue. Absent: no active queue."
        ),
    )
    label_refresh_seconds: float = Field(
        30.0,
        ge=0,
        description=(
            "How long the web app keeps its index of the sampled frames before reading the "
            "clips again (new clips join the queues after at most this long)."
        ),
    )
    learn_job: str = Field(
        "vidcurate-active-learning",
        description="The Cloud Run job `vidcurate learn round --where cloud` starts.",
    )
    learn_follow_seconds: float = Field(
        10.0, gt=0, description="How often `learn round --where cloud` asks how its execution is."
    )
    web_iap_audience: str | None = Field(
        None,
        description=(
            "Set in the cloud: the signed IAP header's audience "
            "(/projects/NUMBER/locations/REGION/services/NAME). Then every request must carry "
            "a valid x-goog-iap-jwt-assertion; unset, annotators sign in with the personal "
            "link `vidcurate labels invite` prints."
        ),
    )
    web_iap_certs_url: str = Field(
        "https://www.gstatic.com/iap/verify/public_key-jwk",
        description="Where IAP's public keys (a JWK set) are read from.",
    )
    web_admins: tuple[str, ...] = Field(
        (),
        description=(
            'Admin identities of the web app (JSON list: IAP e-mails, e.g. ["lead@example.com"]);'
            " an annotator invited with --admin is one too."
        ),
    )

    @field_validator("label_queue_document")
    @classmethod
    def _document_path(cls, value: str) -> str:
        parts = value.split("/")
        if len(parts) < 2 or len(parts) % 2 or not all(parts):
            raise ValueError(
                f"label_queue_document: {value!r} is not a document path (collection/id)"
            )
        return value
