"""Caption campaigns: the drop layout, annotation files, status per (video, task), ingest,
exports.

The public surface other capabilities may use: the pure caption domain (layout, files,
status); their settings are ``shared.captions.settings``. Stores, ingest and exports
are used by the CLI and the functions.
"""

from shared.captions.files import Feedback, Review, VideoEntry, parse_task_file, parse_video_list
from shared.captions.layout import (
    InvalidFileError,
    TaskFileName,
    VideoListName,
    parse_object_name,
)
from shared.captions.status import REVIEWED, STATUSES, Derived, EdgeCase, Status, derive_status

__all__ = [
    "REVIEWED",
    "STATUSES",
    "Derived",
    "EdgeCase",
    "Feedback",
    "InvalidFileError",
    "Review",
    "Status",
    "TaskFileName",
    "VideoEntry",
    "VideoListName",
    "derive_status",
    "parse_object_name",
    "parse_task_file",
    "parse_video_list",
]
