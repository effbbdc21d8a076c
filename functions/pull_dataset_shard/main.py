"""Cloud Function ``pull_dataset_shard``: one ``dataset-shards`` message is one WebDataset
tar shard of a Hugging Face dataset; stream its clips (and their JSON) into the videos
bucket, each once."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.media.shards.messages import ShardPullRequest
from shared.media.shards.pull import pull_shard
from shared.platform.events import parse_pubsub_event
from shared.platform.runtime.entrypoint import entrypoint


@functions_framework.cloud_event
@entrypoint("pull_dataset_shard", get_context)
def pull_dataset_shard(cloud_event: CloudEvent) -> str:
    event = parse_pubsub_event(cloud_event)
    request = event.payload(ShardPullRequest)
    result = pull_shard(
        get_context(),
        request.dataset,
        request.shard,
        holder=event.message.message_id,
        force=request.force,
        pick=request.pick,
    )
    return result.outcome
