//! Webhooks in the embedded store: three tables, every change through the writer.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::events::{event_id, parse_event_id};
use super::writer::{Db, from_json, to_json};
use crate::domain::event::Event;
use crate::domain::webhook::{
    self, DeliveryAttempt, DeliveryBatch, Endpoint, Lease, PendingDelivery, Redelivery, Webhook,
    WebhookStatus,
};
use crate::domain::{Page, PageRequest, Result, Timestamp, page_of};
use crate::store::{EventStore, Idempotency, WebhookStore};

/// The webhook tables (a migration of the embedded store).
pub(super) const SCHEMA: &str = r#"
CREATE TABLE webhooks (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_until INTEGER,
    cursor TEXT,
    lease_holder TEXT,
    lease_until INTEGER
);
CREATE TABLE webhook_pending (
    webhook_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (webhook_id, event_id)
) WITHOUT ROWID;
CREATE TABLE webhook_attempts (
    seq INTEGER PRIMARY KEY,
    webhook_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX webhook_attempts_hook ON webhook_attempts(webhook_id, seq);
CREATE INDEX webhook_attempts_event ON webhook_attempts(webhook_id, event_id, seq);
"#;

/// Attempts by id (a later migration than `SCHEMA`): the id is inside the JSON body.
pub(super) const ATTEMPT_ID_INDEX: &str = r#"
CREATE INDEX webhook_attempts_id ON webhook_attempts(json_extract(body, '$.id'));
"#;

struct Row {
    endpoint: Endpoint,
    lease_holder: Option<String>,
    lease_until: Option<i64>,
}

impl Row {
    fn lease(&self) -> Lease<'_> {
        Lease {
            holder: self.lease_holder.as_deref(),
            until: self.lease_until.map(Timestamp),
        }
    }
}

fn load(conn: &Connection, id: &str) -> Result<Row> {
    let found = conn
        .prepare_cached(
            "SELECT body, secret, previous_secret, previous_until, cursor, lease_holder, lease_until
             FROM webhooks WHERE id = ?1",
        )
        .db()?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        })
        .optional()
        .db()?;
    let Some((body, secret, previous, previous_until, cursor, lease_holder, lease_until)) = found
    else {
        return Err(webhook::not_found(id));
    };
    let previous_secret = match (previous, previous_until) {
        (Some(secret), Some(until)) => Some((secret, Timestamp(until))),
        _ => None,
    };
    Ok(Row {
        endpoint: Endpoint {
            webhook: from_json(&body)?,
            secret,
            previous_secret,
            cursor,
        },
        lease_holder,
        lease_until,
    })
}

fn load_attempt(conn: &Connection, id: &str, delivery_id: &str) -> Result<DeliveryAttempt> {
    let body: Option<String> = conn
        .prepare_cached(
            "SELECT body FROM webhook_attempts
             WHERE json_extract(body, '$.id') = ?1 AND webhook_id = ?2",
        )
        .db()?
        .query_row(params![delivery_id, id], |r| r.get(0))
        .optional()
        .db()?;
    match body {
        Some(body) => from_json(&body),
        None => Err(webhook::delivery_not_found(id, delivery_id)),
    }
}

/// The numbers of the logged attempts of one event at one endpoint.
fn attempt_numbers(conn: &Connection, id: &str, event_id: &str) -> Result<Vec<u32>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT json_extract(body, '$.attempt') FROM webhook_attempts
             WHERE webhook_id = ?1 AND event_id = ?2",
        )
        .db()?;
    let rows = stmt
        .query_map(params![id, event_id], |r| r.get::<_, Option<u32>>(0))
        .db()?;
    let mut numbers = Vec::new();
    for row in rows {
        numbers.extend(row.db()?);
    }
    Ok(numbers)
}

fn save_body(conn: &Connection, webhook: &Webhook) -> Result<()> {
    conn.prepare_cached("UPDATE webhooks SET body = ?2 WHERE id = ?1")
        .db()?
        .execute(params![webhook.id, to_json(webhook)?])
        .db()?;
    Ok(())
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(
        &self,
        webhook: Webhook,
        secret: String,
        idem: Option<Idempotency>,
    ) -> Result<Webhook> {
        self.write(idem, move |conn, _| {
            let head: Option<i64> = conn
                .prepare_cached("SELECT MAX(seq) FROM events")
                .db()?
                .query_row([], |r| r.get(0))
                .db()?;
            conn.prepare_cached(
                "INSERT INTO webhooks (id, body, secret, cursor) VALUES (?1, ?2, ?3, ?4)",
            )
            .db()?
            .execute(params![
                webhook.id,
                to_json(&webhook)?,
                secret,
                head.map(event_id)
            ])
            .db()?;
            Ok(webhook)
        })
        .await
    }

    async fn get_webhook(&self, id: &str) -> Result<Endpoint> {
        let id = id.to_string();
        self.read(move |conn, _| Ok(load(conn, &id)?.endpoint))
            .await
    }

    async fn list_webhooks(&self, page: PageRequest) -> Result<Page<Webhook>> {
        self.read(move |conn, _| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, body FROM webhooks WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .db()?;
            let rows = stmt
                .query_map(params![page.after.unwrap_or(0), page.limit + 1], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .db()?;
            let mut items = Vec::new();
            for row in rows {
                let (seq, body) = row.db()?;
                items.push((seq, from_json::<Webhook>(&body)?));
            }
            Ok(page_of(items, page.limit))
        })
        .await
    }

    async fn delete_webhook(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.write(None, move |conn, _| {
            load(conn, &id)?;
            for sql in [
                "DELETE FROM webhook_pending WHERE webhook_id = ?1",
                "DELETE FROM webhook_attempts WHERE webhook_id = ?1",
                "DELETE FROM webhooks WHERE id = ?1",
            ] {
                conn.prepare_cached(sql).db()?.execute([&id]).db()?;
            }
            Ok(())
        })
        .await
    }

    async fn rotate_webhook_secret(
        &self,
        id: &str,
        secret: String,
        previous_until: Timestamp,
        idem: Option<Idempotency>,
    ) -> Result<Webhook> {
        let id = id.to_string();
        self.write(idem, move |conn, _| {
            let row = load(conn, &id)?;
            conn.prepare_cached(
                "UPDATE webhooks SET previous_secret = secret, previous_until = ?2, secret = ?3
                 WHERE id = ?1",
            )
            .db()?
            .execute(params![id, previous_until.0, secret])
            .db()?;
            Ok(row.endpoint.webhook)
        })
        .await
    }

    async fn enable_webhook(&self, id: &str, idem: Option<Idempotency>) -> Result<Webhook> {
        let id = id.to_string();
        self.write(idem, move |conn, _| {
            let row = load(conn, &id)?;
            let Some(enabled) = webhook::plan_enable(&row.endpoint.webhook) else {
                return Ok(row.endpoint.webhook);
            };
            conn.prepare_cached(
                "UPDATE webhooks SET body = ?2, lease_holder = NULL, lease_until = NULL
                 WHERE id = ?1",
            )
            .db()?
            .execute(params![id, to_json(&enabled)?])
            .db()?;
            Ok(enabled)
        })
        .await
    }

    async fn begin_webhook_test(
        &self,
        id: &str,
        event: Event,
        idem: Option<Idempotency>,
    ) -> Result<Event> {
        let id = id.to_string();
        self.write(idem, move |conn, _| {
            load(conn, &id)?;
            Ok(event)
        })
        .await
    }

    async fn lease_webhook(
        &self,
        id: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<Endpoint>> {
        let id = id.to_string();
        let holder = holder.to_string();
        self.write(None, move |conn, _| {
            let row = load(conn, &id)?;
            if !row
                .lease()
                .may_take(row.endpoint.webhook.status, &holder, now)
            {
                return Ok(None);
            }
            conn.prepare_cached(
                "UPDATE webhooks SET lease_holder = ?2, lease_until = ?3 WHERE id = ?1",
            )
            .db()?
            .execute(params![id, holder, until.0])
            .db()?;
            Ok(Some(row.endpoint))
        })
        .await
    }

    async fn pending_deliveries(&self, id: &str) -> Result<Vec<PendingDelivery>> {
        let id = id.to_string();
        self.read(move |conn, _| {
            load(conn, &id)?;
            let mut stmt = conn
                .prepare_cached(
                    "SELECT body FROM webhook_pending WHERE webhook_id = ?1 ORDER BY event_id",
                )
                .db()?;
            let rows = stmt.query_map([&id], |r| r.get::<_, String>(0)).db()?;
            let mut pending = Vec::new();
            for row in rows {
                pending.push(from_json::<PendingDelivery>(&row.db()?)?);
            }
            Ok(pending)
        })
        .await
    }

    async fn record_deliveries(
        &self,
        id: &str,
        holder: Option<&str>,
        batch: DeliveryBatch,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let id = id.to_string();
        let holder = holder.map(str::to_string);
        self.write(None, move |conn, _| {
            let row = load(conn, &id)?;
            row.lease().check_recorder(holder.as_deref(), &id)?;
            for attempt in &batch.attempts {
                conn.prepare_cached(
                    "INSERT INTO webhook_attempts (webhook_id, event_id, body) VALUES (?1, ?2, ?3)",
                )
                .db()?
                .execute(params![id, attempt.event_id, to_json(attempt)?])
                .db()?;
            }
            for pending in &batch.pending {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO webhook_pending (webhook_id, event_id, body)
                     VALUES (?1, ?2, ?3)",
                )
                .db()?
                .execute(params![id, pending.event.id, to_json(pending)?])
                .db()?;
            }
            for event_id in &batch.done {
                conn.prepare_cached(
                    "DELETE FROM webhook_pending WHERE webhook_id = ?1 AND event_id = ?2",
                )
                .db()?
                .execute(params![id, event_id])
                .db()?;
            }
            if let Some(cursor) = &batch.cursor {
                conn.prepare_cached("UPDATE webhooks SET cursor = ?2 WHERE id = ?1")
                    .db()?
                    .execute(params![id, cursor])
                    .db()?;
            }
            let mut webhook = row.endpoint.webhook;
            let mut changed = false;
            if let Some(failing_since) = batch.failing_since {
                changed |= webhook.failing_since != failing_since;
                webhook.failing_since = failing_since;
            }
            if batch.disable && webhook.status != WebhookStatus::Disabled {
                webhook.status = WebhookStatus::Disabled;
                changed = true;
            }
            if changed {
                save_body(conn, &webhook)?;
            }
            Ok(())
        })
        .await
    }

    async fn get_delivery(&self, id: &str, delivery_id: &str) -> Result<DeliveryAttempt> {
        let id = id.to_string();
        let delivery_id = delivery_id.to_string();
        self.read(move |conn, _| {
            load(conn, &id)?;
            load_attempt(conn, &id, &delivery_id)
        })
        .await
    }

    async fn begin_redelivery(
        &self,
        id: &str,
        delivery_id: &str,
        attempt_id: String,
        idem: Option<Idempotency>,
    ) -> Result<Redelivery> {
        let id = id.to_string();
        let delivery_id = delivery_id.to_string();
        self.write(idem, move |conn, _| {
            load(conn, &id)?;
            let of = load_attempt(conn, &id, &delivery_id)?;
            let numbers = attempt_numbers(conn, &id, &of.event_id)?;
            Ok(webhook::plan_redelivery(of, numbers, attempt_id))
        })
        .await
    }

    async fn feed_event(&self, wanted: &str) -> Result<Option<Event>> {
        // Feed ids are sequence numbers: the event is the one after its predecessor.
        let Some(seq) = parse_event_id(wanted).filter(|seq| *seq > 0) else {
            return Ok(None);
        };
        let page = self.list_events(Some(&event_id(seq - 1)), 1).await?;
        Ok(page.data.into_iter().find(|event| event.id == wanted))
    }

    async fn list_deliveries(
        &self,
        id: &str,
        event_id: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<DeliveryAttempt>> {
        let id = id.to_string();
        let event_id = event_id.map(str::to_string);
        self.read(move |conn, _| {
            load(conn, &id)?;
            let after = page.after.unwrap_or(0);
            let limit = page.limit + 1;
            let mut stmt;
            let rows = match &event_id {
                Some(event_id) => {
                    stmt = conn
                        .prepare_cached(
                            "SELECT seq, body FROM webhook_attempts
                             WHERE webhook_id = ?1 AND event_id = ?2 AND seq > ?3
                             ORDER BY seq LIMIT ?4",
                        )
                        .db()?;
                    stmt.query_map(params![id, event_id, after, limit], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })
                    .db()?
                    .collect::<Vec<_>>()
                }
                None => {
                    stmt = conn
                        .prepare_cached(
                            "SELECT seq, body FROM webhook_attempts
                             WHERE webhook_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                        )
                        .db()?;
                    stmt.query_map(params![id, after, limit], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })
                    .db()?
                    .collect::<Vec<_>>()
                }
            };
            let mut items = Vec::new();
            for row in rows {
                let (seq, body) = row.db()?;
                items.push((seq, from_json::<DeliveryAttempt>(&body)?));
            }
            Ok(page_of(items, page.limit))
        })
        .await
    }
}
