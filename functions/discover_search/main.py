"""Cloud Function ``discover_search``: one ``word-searches`` message is one word of a run;
search its clips at the source (account-wide rate limit) and send each new one to scoring."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.discovery.messages import WordSearch
from shared.discovery.stages import Outcome, search_word
from shared.platform.events import parse_pubsub_event
from shared.platform.runtime.entrypoint import entrypoint


@functions_framework.cloud_event
@entrypoint("discover_search", get_context)
def discover_search(cloud_event: CloudEvent) -> Outcome:
    event = parse_pubsub_event(cloud_event)
    return search_word(get_context(), event.payload(WordSearch))
