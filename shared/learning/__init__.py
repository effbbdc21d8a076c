"""Frame labelling: annotators label video frames for classification tasks. The label schema
(tasks and their classes, the unusable-frame flag), every annotator's queue (computed, never
stored) and the agreement between annotators (Cohen's and Fleiss' kappa)."""

from shared.learning.agreement import (
    Kappa,
    TaskAgreement,
    agreement,
    cohen_kappa,
    fleiss_kappa,
    task_agreement,
)
from shared.learning.queues import ActiveQueue, queue_for, resume_position
from shared.learning.schema import DEFAULT_TASKS, Label, LabelSchema, validate_label

__all__ = [
    "DEFAULT_TASKS",
    "ActiveQueue",
    "Kappa",
    "Label",
    "LabelSchema",
    "TaskAgreement",
    "agreement",
    "cohen_kappa",
    "fleiss_kappa",
    "queue_for",
    "resume_position",
    "task_agreement",
    "validate_label",
]
