//! The push subscriptions' SQL, shared by both backends like `sql.rs`.

use async_trait::async_trait;

use super::sql::SqlStore;
use crate::domain::AthleteId;
use crate::store::webhooks::{DeliveryRow, SubscriptionRow, WebhookStore, WebhookTarget};
use crate::store::{StoreError, StoreResult};

type StoredSubscription = (i64, i64, String, i64);

fn subscription((id, app_id, callback_url, created_ms): StoredSubscription) -> SubscriptionRow {
    SubscriptionRow {
        id,
        app_id,
        callback_url,
        created_ms,
    }
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn create_subscription(
        &self,
        app_id: i64,
        callback_url: &str,
        now_ms: i64,
    ) -> StoreResult<Option<SubscriptionRow>> {
        let row: Result<StoredSubscription, _> = sqlx::query_as(
            "INSERT INTO push_subscriptions (app_id, callback_url, created_ms) VALUES ($1, $2, $3) \
             RETURNING id, app_id, callback_url, created_ms",
        )
        .bind(app_id)
        .bind(callback_url)
        .bind(now_ms)
        .fetch_one(self.pool())
        .await;
        match row.map_err(StoreError::from) {
            Ok(row) => Ok(Some(subscription(row))),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn subscriptions_of_app(&self, app_id: i64) -> StoreResult<Vec<SubscriptionRow>> {
        let rows: Vec<StoredSubscription> = sqlx::query_as(
            "SELECT id, app_id, callback_url, created_ms FROM push_subscriptions \
             WHERE app_id = $1 ORDER BY id",
        )
        .bind(app_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(subscription).collect())
    }

    async fn delete_subscription(&self, app_id: i64, id: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let gone = sqlx::query("DELETE FROM push_subscriptions WHERE id = $1 AND app_id = $2")
            .bind(id)
            .bind(app_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone > 0 {
            sqlx::query("DELETE FROM webhook_deliveries WHERE subscription_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(gone > 0)
    }

    async fn webhook_targets(&self, athlete: AthleteId) -> StoreResult<Vec<WebhookTarget>> {
        let rows: Vec<(i64, i64, String, i64)> = sqlx::query_as(
            "SELECT s.id, s.app_id, g.scope, g.created_ms FROM oauth_grants g \
             JOIN push_subscriptions s ON s.app_id = g.app_id WHERE g.athlete_id = $1 ORDER BY s.id",
        )
        .bind(athlete.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(subscription_id, app_id, scope, granted_ms)| WebhookTarget {
                    subscription_id,
                    app_id,
                    scope,
                    granted_ms,
                },
            )
            .collect())
    }

    async fn lease_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRow>> {
        let mut tx = self.begin_write().await?;
        // Only the oldest waiting event of each object: a later one waits
        // until the earlier is delivered (in order per object).
        let rows: Vec<(i64, i64, String, String, i64, i64)> = sqlx::query_as(
            "SELECT d.id, d.subscription_id, s.callback_url, d.body, d.attempts, d.created_ms \
             FROM webhook_deliveries d JOIN push_subscriptions s ON s.id = d.subscription_id \
             WHERE d.next_attempt_ms <= $1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
             WHERE e.subscription_id = d.subscription_id AND e.object_type = d.object_type \
             AND e.object_id = d.object_id AND e.id < d.id) ORDER BY d.id LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            sqlx::query("UPDATE webhook_deliveries SET next_attempt_ms = $2 WHERE id = $1")
                .bind(row.0)
                .bind(lease_until_ms)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, subscription_id, callback_url, body, attempts, created_ms)| DeliveryRow {
                    id,
                    subscription_id,
                    callback_url,
                    body,
                    attempts,
                    created_ms,
                },
            )
            .collect())
    }

    async fn finish_delivery(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM webhook_deliveries WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn retry_delivery(
        &self,
        id: i64,
        attempts: i64,
        next_attempt_ms: i64,
        error: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = $2, next_attempt_ms = $3, last_error = $4 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(attempts)
        .bind(next_attempt_ms)
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn pending_deliveries(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries")
                .fetch_one(self.pool())
                .await?,
        )
    }
}
