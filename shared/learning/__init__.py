"""Frame labelling: annotators label video frames for classification tasks. The label schema
(tasks and their classes, the unusable-frame flag), every annotator's queue (computed, never
stored), the label documents (one per annotator and frame, with their history), the
annotators and how they sign in, and the agreement between annotators (Cohen's and Fleiss'
kappa). :class:`Labelling` is what the CLI and the web app call. What the active-learning
rounds recorded, for the web app: :func:`round_rows` and :func:`round_report`."""

from shared.learning.agreement import (
    Kappa,
    TaskAgreement,
    agreement,
    cohen_kappa,
    confusion_kappa,
    fleiss_kappa,
    task_agreement,
)
from shared.learning.annotators import (
    Annotator,
    UnknownAnnotatorError,
    annotator_by_email,
    annotator_by_token,
    check_name,
    invite,
)
from shared.learning.frames import AnnotatorQueue, FrameCatalog, FrameIndex, load_frames
from shared.learning.labels import LabelConflictError, LabelRecord, label_path, record_label
from shared.learning.queues import ActiveQueue, queue_for, resume_position
from shared.learning.roundviews import (
    QUEUE_HEAD,
    QueueFrame,
    RoundPlot,
    RoundReport,
    RoundRow,
    SetMetrics,
    TaskRound,
    queue_frame,
    round_plot,
    round_report,
    round_rows,
)
from shared.learning.schema import DEFAULT_TASKS, Label, LabelSchema, validate_label
from shared.learning.service import (
    AnnotatorProgress,
    FrameView,
    Labelling,
    LabelRejectedError,
    LabelStatus,
    StaleQueueError,
    write_export,
)

__all__ = [
    "DEFAULT_TASKS",
    "QUEUE_HEAD",
    "ActiveQueue",
    "Annotator",
    "AnnotatorProgress",
    "AnnotatorQueue",
    "FrameCatalog",
    "FrameIndex",
    "FrameView",
    "Kappa",
    "Label",
    "LabelConflictError",
    "LabelRecord",
    "LabelRejectedError",
    "LabelSchema",
    "LabelStatus",
    "Labelling",
    "QueueFrame",
    "RoundPlot",
    "RoundReport",
    "RoundRow",
    "SetMetrics",
    "StaleQueueError",
    "TaskAgreement",
    "TaskRound",
    "UnknownAnnotatorError",
    "agreement",
    "annotator_by_email",
    "annotator_by_token",
    "check_name",
    "cohen_kappa",
    "confusion_kappa",
    "fleiss_kappa",
    "invite",
    "label_path",
    "load_frames",
    "queue_for",
    "queue_frame",
    "record_label",
    "resume_position",
    "round_plot",
    "round_report",
    "round_rows",
    "task_agreement",
    "validate_label",
    "write_export",
]
