"""Publishing exports to the Hugging Face Hub: one commit per folder, with a dataset card.

Other capabilities queue an upload with ``HUB_UPLOAD_REQUESTS.publish(bus,
HubUploadRequest(...))`` (``shared.publishing.messages``) and read the default repo from
:class:`PublishingSettings` (``shared.publishing.settings``).
"""

from shared.publishing.messages import HUB_UPLOAD_REQUESTS, HubUploadRequest
from shared.publishing.settings import PublishingSettings

__all__ = [
    "HUB_UPLOAD_REQUESTS",
    "HubUploadRequest",
    "PublishingSettings",
]
