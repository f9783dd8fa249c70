//! The push subscriptions' store role (Strava's webhooks): one
//! subscription per app, and the queue of events waiting for delivery.
//! The queue's rows are written by the `webhooks` change-log consumer in
//! the transaction that moves its position (nothing lost on a crash).

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::AthleteId;

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRow {
    pub id: i64,
    pub app_id: i64,
    pub callback_url: String,
    pub created_ms: i64,
}

/// An app subscribed to events that the athlete authorized, and with what
/// scope.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookTarget {
    pub subscription_id: i64,
    pub app_id: i64,
    pub scope: String,
    /// When the athlete authorized the app: earlier events are not its.
    pub granted_ms: i64,
}

/// An event to POST.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRow {
    pub id: i64,
    pub subscription_id: i64,
    pub callback_url: String,
    pub body: String,
    pub attempts: i64,
    pub created_ms: i64,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// None when the app already has a subscription.
    async fn create_subscription(
        &self,
        app_id: i64,
        callback_url: &str,
        now_ms: i64,
    ) -> StoreResult<Option<SubscriptionRow>>;
    async fn subscriptions_of_app(&self, app_id: i64) -> StoreResult<Vec<SubscriptionRow>>;
    async fn delete_subscription(&self, app_id: i64, id: i64) -> StoreResult<bool>;
    /// The subscriptions of apps the athlete authorized.
    async fn webhook_targets(&self, athlete: AthleteId) -> StoreResult<Vec<WebhookTarget>>;
    /// Due deliveries, each the oldest waiting one of its (subscription,
    /// object), leased until `lease_until_ms` (another node skips them).
    async fn lease_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRow>>;
    /// Delivered (or given up): the row goes.
    async fn finish_delivery(&self, id: i64) -> StoreResult<()>;
    async fn retry_delivery(
        &self,
        id: i64,
        attempts: i64,
        next_attempt_ms: i64,
        error: &str,
    ) -> StoreResult<()>;
    /// Deliveries waiting (all subscriptions), for tests and metrics.
    async fn pending_deliveries(&self) -> StoreResult<i64>;
}
