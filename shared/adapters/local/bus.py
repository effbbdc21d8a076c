"""A durable message bus in SQLite with Pub/Sub semantics.

Topics fan out to subscriptions; each subscription keeps its own deliveries. A pulled
delivery is leased for the ack deadline; if it is neither acked nor nacked in time (the
process died) it becomes available again. A nack schedules a retry with exponential
backoff; after ``max_delivery_attempts`` the message is published to the subscription's
dead-letter topic with its last error. A topic with no subscription drops what is published
to it, as Pub/Sub does.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shared.adapters.local.sqlite import SqliteDatabase
from shared.core.errors import NotFoundError
from shared.ports.bus import (
    DEAD_LETTER_COUNT,
    DEAD_LETTER_ERROR,
    DEAD_LETTER_MESSAGE_ID,
    DEAD_LETTER_SOURCE,
    DEAD_LETTER_TOPIC,
    OutgoingMessage,
)
from shared.ports.subscriber import ReceivedMessage

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    name TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    dead_letter_topic TEXT,
    max_attempts INTEGER NOT NULL,
    ack_deadline REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_by_topic ON subscriptions(topic);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription TEXT NOT NULL,
    topic TEXT NOT NULL,
    message_id TEXT NOT NULL,
    data BLOB NOT NULL,
    attributes TEXT NOT NULL,
    publish_time REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at REAL NOT NULL,
    leased INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_ready ON deliveries(subscription, available_at);
"""

ROWS_PER_STATEMENT = 400  # well under SQLite's 32,766 bound parameters per statement


@dataclass(frozen=True)
class SubscriptionStats:
    """What a subscription holds right now."""

    subscription: str
    topic: str
    pending: int
    in_flight: int
    retrying: int


def _ack_id(row_id: int, attempts: int) -> str:
    # The attempt number makes a late ack (after the lease expired and the message was
    # redelivered) a no-op instead of removing the newer delivery.
    return f"{row_id}:{attempts}"


@functools.lru_cache(maxsize=1024)
def _timestamp(seconds: float) -> datetime:
    # Messages published together share a publish time: convert it once.
    return datetime.fromtimestamp(seconds, UTC)


def _attributes_json(attributes: Mapping[str, str]) -> str:
    return json.dumps(dict(attributes)) if attributes else "{}"


def _parse_ack_id(ack_id: str) -> tuple[int, int]:
    row_id, attempts = ack_id.split(":")
    return int(row_id), int(attempts)


class SqliteMessageBus:
    """Publisher and subscriber over one SQLite file, safe across threads and processes."""

    def __init__(
        self,
        db: SqliteDatabase | Path,
        *,
        ack_deadline_seconds: float = 60.0,
        min_backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        max_delivery_attempts: int = 5,
    ) -> None:
        self._db = db if isinstance(db, SqliteDatabase) else SqliteDatabase(db, SCHEMA)
        if isinstance(db, SqliteDatabase):
            self._db.connection().executescript(SCHEMA)
        self.ack_deadline_seconds = ack_deadline_seconds
        self.min_backoff_seconds = min_backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.max_delivery_attempts = max_delivery_attempts

    @property
    def database(self) -> SqliteDatabase:
        """The SQLite file (shared with the local blob store for atomic notifications)."""
        return self._db

    # --- topology ---------------------------------------------------------------------------

    def create_subscription(
        self,
        name: str,
        topic: str,
        *,
        dead_letter_topic: str | None = None,
        max_delivery_attempts: int | None = None,
        ack_deadline_seconds: float | None = None,
    ) -> None:
        """Create or update a subscription; messages published before it are not in it."""
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO subscriptions(name, topic, dead_letter_topic, max_attempts,"
                " ack_deadline) VALUES (?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET"
                " topic=excluded.topic, dead_letter_topic=excluded.dead_letter_topic,"
                " max_attempts=excluded.max_attempts, ack_deadline=excluded.ack_deadline",
                (
                    name,
                    topic,
                    dead_letter_topic,
                    max_delivery_attempts or self.max_delivery_attempts,
                    ack_deadline_seconds or self.ack_deadline_seconds,
                ),
            )

    def subscriptions(self) -> dict[str, str]:
        """Subscription name -> topic."""
        rows = self._db.connection().execute("SELECT name, topic FROM subscriptions ORDER BY name")
        return dict(rows)

    def _subscriptions_of(self, conn: sqlite3.Connection, topic: str) -> list[str]:
        rows = conn.execute("SELECT name FROM subscriptions WHERE topic=? ORDER BY name", (topic,))
        return [row[0] for row in rows]

    # --- publish ----------------------------------------------------------------------------

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str] | None = None) -> str:
        """Publish one message durably; returns its message id."""
        return self.publish_many(topic, [OutgoingMessage(data, attributes or {})])[0]

    def publish_many(self, topic: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        """Publish messages in one transaction."""
        with self._db.write() as conn:
            return self.publish_in(conn, topic, messages)

    def publish_in(
        self, conn: sqlite3.Connection, topic: str, messages: Sequence[OutgoingMessage]
    ) -> list[str]:
        """Publish inside a transaction the caller holds (the blob store's outbox)."""
        now = time.time()
        ids = [os.urandom(16).hex() for _ in messages]
        subscriptions = self._subscriptions_of(conn, topic)
        rows = [
            (sub, topic, mid, bytes(msg.data), _attributes_json(msg.attributes), now, now)
            for mid, msg in zip(ids, messages, strict=True)
            for sub in subscriptions
        ]
        # One multi-row statement per chunk: a batch costs a handful of statements.
        for offset in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[offset : offset + ROWS_PER_STATEMENT]
            values = ",".join(["(?,?,?,?,?,?,?)"] * len(chunk))
            sql = (
                "INSERT INTO deliveries(subscription, topic, message_id, data, attributes,"  # noqa: S608 (placeholders only)
                f" publish_time, available_at) VALUES {values}"
            )
            conn.execute(sql, [value for row in chunk for value in row])
        return ids

    # --- subscribe --------------------------------------------------------------------------

    def pull(self, subscription: str, max_messages: int = 100) -> list[ReceivedMessage]:
        """Lease available deliveries; those past their attempts go to the dead letter."""
        with self._db.write() as conn:
            now = time.time()  # read under the lock: waiting for it must not shorten leases
            sub = conn.execute(
                "SELECT dead_letter_topic, max_attempts, ack_deadline FROM subscriptions"
                " WHERE name=?",
                (subscription,),
            ).fetchone()
            if sub is None:
                raise NotFoundError(f"no subscription {subscription!r}")
            dead_letter_topic, max_attempts, ack_deadline = sub
            rows = conn.execute(
                "SELECT id, topic, message_id, data, attributes, publish_time, attempts,"
                " last_error FROM deliveries WHERE subscription=? AND available_at<=?"
                " ORDER BY available_at, id LIMIT ?",
                (subscription, now, max_messages),
            ).fetchall()
            received: list[ReceivedMessage] = []
            leased: list[int] = []
            for row_id, topic, message_id, data, attributes, publish_time, attempts, error in rows:
                if dead_letter_topic and attempts >= max_attempts:
                    # Leased max_attempts times and never acked: the handler kept dying.
                    self._dead_letter(
                        conn,
                        subscription,
                        dead_letter_topic,
                        row_id,
                        error or "ack deadline exceeded on every attempt",
                    )
                    continue
                leased.append(row_id)
                received.append(
                    ReceivedMessage(
                        ack_id=_ack_id(row_id, attempts + 1),
                        subscription=subscription,
                        topic=topic,
                        message_id=message_id,
                        data=bytes(data),
                        attributes=json.loads(attributes) if attributes != "{}" else {},
                        publish_time=_timestamp(publish_time),
                        delivery_attempt=attempts + 1,
                    )
                )
            for offset in range(0, len(leased), ROWS_PER_STATEMENT):
                chunk = leased[offset : offset + ROWS_PER_STATEMENT]
                marks = ",".join("?" * len(chunk))
                sql = (
                    "UPDATE deliveries SET available_at=?, attempts=attempts+1, leased=1"  # noqa: S608 (placeholders only)
                    f" WHERE id IN ({marks})"
                )
                conn.execute(sql, [now + ack_deadline, *chunk])
        return received

    def ack(self, subscription: str, ack_ids: Sequence[str]) -> None:
        """Forget handled deliveries (stale ack ids are ignored)."""
        if not ack_ids:
            return
        with self._db.write() as conn:
            conn.executemany(
                "DELETE FROM deliveries WHERE id=? AND attempts=? AND subscription=?",
                [(*_parse_ack_id(ack_id), subscription) for ack_id in ack_ids],
            )

    def nack(self, subscription: str, ack_id: str, error: str) -> None:
        """Retry after exponential backoff, or dead-letter after the last attempt."""
        row_id, attempts = _parse_ack_id(ack_id)
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT s.dead_letter_topic, s.max_attempts FROM deliveries d"
                " JOIN subscriptions s ON s.name = d.subscription"
                " WHERE d.id=? AND d.attempts=? AND d.subscription=?",
                (row_id, attempts, subscription),
            ).fetchone()
            if row is None:
                return  # stale: the lease expired and the message was delivered again
            dead_letter_topic, max_attempts = row
            if dead_letter_topic and attempts >= max_attempts:
                self._dead_letter(conn, subscription, dead_letter_topic, row_id, error)
                return
            # The exponent is capped: without a dead-letter topic attempts grow without bound.
            delay = min(
                self.max_backoff_seconds, self.min_backoff_seconds * 2 ** min(attempts - 1, 32)
            )
            conn.execute(
                "UPDATE deliveries SET available_at=?, leased=0, last_error=? WHERE id=?",
                (time.time() + delay, error[:10_000], row_id),
            )

    def extend(self, subscription: str, ack_ids: Sequence[str], seconds: float) -> None:
        """Move the lease deadline of deliveries still in progress."""
        if not ack_ids:
            return
        with self._db.write() as conn:
            until = time.time() + seconds
            conn.executemany(
                "UPDATE deliveries SET available_at=?, leased=? WHERE id=? AND attempts=?"
                " AND subscription=?",
                [
                    (until, 1 if seconds > 0 else 0, *_parse_ack_id(ack_id), subscription)
                    for ack_id in ack_ids
                ],
            )

    def _dead_letter(
        self,
        conn: sqlite3.Connection,
        subscription: str,
        dead_letter_topic: str,
        row_id: int,
        error: str,
    ) -> None:
        topic, message_id, data, attributes, attempts = conn.execute(
            "SELECT topic, message_id, data, attributes, attempts FROM deliveries WHERE id=?",
            (row_id,),
        ).fetchone()
        dead_attributes = {
            **json.loads(attributes),
            DEAD_LETTER_SOURCE: subscription,
            DEAD_LETTER_COUNT: str(attempts),
            DEAD_LETTER_ERROR: error[:10_000],
            DEAD_LETTER_TOPIC: topic,
            DEAD_LETTER_MESSAGE_ID: message_id,
        }
        self.publish_in(conn, dead_letter_topic, [OutgoingMessage(bytes(data), dead_attributes)])
        conn.execute("DELETE FROM deliveries WHERE id=?", (row_id,))

    # --- inspection -------------------------------------------------------------------------

    def stats(self) -> list[SubscriptionStats]:
        """Pending, in-flight and waiting-to-retry counts per subscription."""
        now = time.time()
        rows = (
            self._db.connection()
            .execute(
                "SELECT s.name, s.topic,"
                " coalesce(sum(d.available_at <= ?), 0),"
                " coalesce(sum(d.available_at > ? AND d.leased = 1), 0),"
                " coalesce(sum(d.available_at > ? AND d.leased = 0), 0)"
                " FROM subscriptions s LEFT JOIN deliveries d ON d.subscription = s.name"
                " GROUP BY s.name ORDER BY s.name",
                (now, now, now),
            )
            .fetchall()
        )
        return [SubscriptionStats(*row) for row in rows]

    def backlog(self, subscriptions: Sequence[str]) -> int:
        """Deliveries not yet acked on these subscriptions (pending, leased or retrying)."""
        if not subscriptions:
            return 0
        marks = ",".join("?" * len(subscriptions))
        row = (
            self._db.connection()
            .execute(
                f"SELECT count(*) FROM deliveries WHERE subscription IN ({marks})",  # noqa: S608
                list(subscriptions),
            )
            .fetchone()
        )
        return int(row[0])

    def close(self) -> None:
        """Close the SQLite connections."""
        self._db.close()
