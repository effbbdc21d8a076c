"""Publishing exports to the Hugging Face Hub: one commit per folder, with a dataset card.

Other capabilities queue an upload with :class:`HubUploadRequest` on ``hub-uploads``
(``shared.publishing.messages``) and read the default repo from :class:`PublishingSettings`.
"""

from shared.publishing.messages import HUB_UPLOADS_TOPIC, HubUploadRequest
from shared.publishing.settings import PublishingSettings

__all__ = ["HUB_UPLOADS_TOPIC", "HubUploadRequest", "PublishingSettings"]
