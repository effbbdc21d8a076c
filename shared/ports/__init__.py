"""Small Protocols that services depend on; adapters in ``shared.adapters`` implement them."""

from shared.ports.blobstore import BlobInfo, BlobStore, md5_base64
from shared.ports.bus import MessageBus, OutgoingMessage
from shared.ports.documents import (
    DELETE_FIELD,
    SERVER_TIMESTAMP,
    Document,
    DocumentStore,
    Filter,
    Increment,
    Order,
    Transaction,
    WriteBatch,
)
from shared.ports.hub import HubCommit, HubPublisher
from shared.ports.subscriber import ReceivedMessage, Subscriber

__all__ = [
    "DELETE_FIELD",
    "SERVER_TIMESTAMP",
    "BlobInfo",
    "BlobStore",
    "Document",
    "DocumentStore",
    "Filter",
    "HubCommit",
    "HubPublisher",
    "Increment",
    "MessageBus",
    "Order",
    "OutgoingMessage",
    "ReceivedMessage",
    "Subscriber",
    "Transaction",
    "WriteBatch",
    "md5_base64",
]
