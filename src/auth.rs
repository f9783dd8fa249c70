//! Access tokens, password hashing and the sign-in guard.
//!
//! Tokens are 256 random bits, hex-encoded, handed out once and stored as
//! their SHA-256. They are accepted as `Authorization: Bearer …` or as
//! `?access_token=…` (EventSource cannot set headers). A token expires when
//! unused for `PACER_TOKEN_TTL_S`; each use renews it, written at most once
//! per `renewal_interval` so ingest does not write per request.

use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use actix_web::{web, FromRequest, HttpRequest};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;
use crate::domain::{now_ms, AthleteId};
use crate::error::{ApiError, Code};
use crate::metrics::Metrics;
use crate::state::AppState;

/// Cached token lookups; beyond this many the cache starts afresh.
const TOKEN_CACHE_CAPACITY: usize = 4_000_000;

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn hash_token(token: &str) -> String {
    hex_digest(&token_digest(token))
}

/// The token's SHA-256, raw: what the cache is keyed by.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Argon2id with the crate's defaults. CPU-heavy: call it off the arbiter.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Runs password hashing or verification on the blocking pool.
pub async fn off_arbiter<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f).await.map_err(ApiError::internal)
}

/// A digest in lower-case hex, without the per-character iterator of
/// `hex::encode` (this runs on every authenticated request).
fn hex_digest(digest: &[u8; 32]) -> String {
    let mut out = [0u8; 64];
    // Cannot fail: the output is exactly twice the input.
    let _ = hex::encode_to_slice(digest, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Token hash → (athlete, last renewal in ms), so authenticating a fix does
/// not query the database. Revocation goes through `forget`, and a cached
/// renewal older than the time to live is not trusted, so the cache never
/// outlives a token. Keys are the raw 32-byte digests (not hex): a node
/// caches a token per live athlete, so the entry size counts.
#[derive(Default)]
pub struct TokenCache {
    /// Keyed by SHA-256 digests, already uniform: a fast hash suffices.
    entries: DashMap<[u8; 32], (AthleteId, i64), rustc_hash::FxBuildHasher>,
}

fn cache_key(token_hash: &str) -> Option<[u8; 32]> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(token_hash, &mut key).ok()?;
    Some(key)
}

impl TokenCache {
    /// The athlete and the token's last renewal (ms).
    pub fn get(&self, token_hash: &str) -> Option<(AthleteId, i64)> {
        self.get_digest(&cache_key(token_hash)?)
    }

    /// As `get`, by the raw digest (no hex on the request path).
    pub fn get_digest(&self, digest: &[u8; 32]) -> Option<(AthleteId, i64)> {
        self.entries.get(digest).map(|e| *e.value())
    }

    pub fn insert(&self, token_hash: &str, athlete: AthleteId, used_ms: i64) {
        let Some(key) = cache_key(token_hash) else {
            return;
        };
        if self.entries.len() >= TOKEN_CACHE_CAPACITY {
            self.entries.clear();
        }
        self.entries.insert(key, (athlete, used_ms));
    }

    pub fn forget(&self, token_hash: &str) {
        if let Some(key) = cache_key(token_hash) {
            self.entries.remove(&key);
        }
    }
}

/// The presented token, if any, from the header or the query string.
pub fn presented_token(req: &HttpRequest) -> Option<String> {
    presented_digest_input(req, |t| t.to_string())
}

/// Runs `f` on the presented token without copying it when it comes in
/// the header (every fix post).
fn presented_digest_input<T>(req: &HttpRequest, f: impl FnOnce(&str) -> T) -> Option<T> {
    if let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        return Some(f(token.trim()));
    }
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| f(&v))
}

/// Sliding expiry: how long a token lives unused, and how often its renewal
/// is written (an hour, or a tenth of the lifetime when that is shorter).
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetime {
    pub ttl_ms: i64,
    pub renewal_interval_ms: i64,
}

impl TokenLifetime {
    pub fn new(ttl_ms: i64) -> Self {
        let ttl_ms = ttl_ms.max(1);
        TokenLifetime {
            ttl_ms,
            renewal_interval_ms: (ttl_ms / 10).clamp(1, 3_600_000),
        }
    }

    pub fn expired(&self, used_ms: i64, now_ms: i64) -> bool {
        now_ms.saturating_sub(used_ms) >= self.ttl_ms
    }

    pub fn due_for_renewal(&self, used_ms: i64, now_ms: i64) -> bool {
        now_ms.saturating_sub(used_ms) >= self.renewal_interval_ms
    }
}

/// The authenticated caller. Extracting it answers 401 when the token is
/// missing, unknown or expired.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: AthleteId,
    pub token_hash: String,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = futures_util::future::Either<
        std::future::Ready<Result<Caller, ApiError>>,
        Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>,
    >;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        use futures_util::future::Either;
        let digest = presented_digest_input(req, token_digest);
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return Either::Left(std::future::ready(Err(ApiError::unauthorized())));
        };
        let Some(digest) = digest else {
            return Either::Left(std::future::ready(Err(ApiError::unauthorized())));
        };
        // The common case (a cached token not due for renewal) answers
        // here: no boxed future, no hex decoding of the cache key.
        if let Some(id) = cached_caller(state, &digest) {
            return Either::Left(std::future::ready(Ok(Caller {
                id,
                token_hash: hex_digest(&digest),
            })));
        }
        let state = state.clone();
        Either::Right(Box::pin(async move {
            let token_hash = hex_digest(&digest);
            let id = authenticate(&state, &token_hash).await?;
            Ok(Caller { id, token_hash })
        }))
    }
}

/// The token's athlete when the cache holds it, unexpired and not due for
/// renewal; None sends the caller through `authenticate`.
fn cached_caller(state: &AppState, digest: &[u8; 32]) -> Option<AthleteId> {
    let (id, used_ms) = state.tokens.get_digest(digest)?;
    let lifetime = TokenLifetime::new(state.config.token_ttl_ms());
    let now = now_ms();
    (!lifetime.expired(used_ms, now) && !lifetime.due_for_renewal(used_ms, now)).then_some(id)
}

fn expired_token() -> ApiError {
    ApiError::token_expired()
}

/// The token's athlete, renewing the token when due. Expiry is detected
/// here (on the next request that presents the token), so a stream opened
/// before its token lapsed is not ended by this check.
pub async fn authenticate(state: &AppState, token_hash: &str) -> Result<AthleteId, ApiError> {
    let lifetime = TokenLifetime::new(state.config.token_ttl_ms());
    let now = now_ms();
    if let Some((id, used_ms)) = state.tokens.get(token_hash) {
        if !lifetime.expired(used_ms, now) {
            if lifetime.due_for_renewal(used_ms, now) {
                renew_in_background(state, token_hash, id, now);
            }
            return Ok(id);
        }
        // Another node may have renewed it since: ask the database.
        state.tokens.forget(token_hash);
    }
    let Some((id, used_ms)) = state.store.token_owner(token_hash).await? else {
        return Err(ApiError::unauthorized());
    };
    if lifetime.expired(used_ms, now) {
        // Gone for good: drop the row so it cannot be renewed by mistake.
        if let Err(e) = state.store.revoke_token(token_hash).await {
            tracing::warn!(error = %e, "could not delete an expired token");
        }
        return Err(expired_token());
    }
    if lifetime.due_for_renewal(used_ms, now) {
        renew_in_background(state, token_hash, id, now);
    } else {
        state.tokens.insert(token_hash, id, used_ms);
    }
    Ok(id)
}

/// Caches the renewal at once (so the next requests do not write again) and
/// writes it off the request path; a failed write only shortens the token's
/// life to what the database last recorded.
fn renew_in_background(state: &AppState, token_hash: &str, id: AthleteId, now: i64) {
    state.tokens.insert(token_hash, id, now);
    let store = state.store.clone();
    let token_hash = token_hash.to_string();
    actix_web::rt::spawn(async move {
        if let Err(e) = store.touch_token(&token_hash, now).await {
            tracing::warn!(error = %e, "could not renew a token");
        }
    });
}

/// An argon2 hash of a random password, verified against for unknown user
/// names so they cost as much as a wrong password.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| hash_password(&new_token()).ok());

/// Computes the dummy hash ahead of the first sign-in (call off the arbiter).
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

/// Past this many keys a rate limiter forgets the keys that are back to a
/// full allowance; if that is not enough it starts afresh (memory stays
/// bounded under a spray of names or addresses).
const MAX_LIMITER_KEYS: usize = 100_000;

/// A keyed rate limiter with bounded memory.
struct Limiter<K: Hash + Eq + Clone> {
    quota: Quota,
    inner: RwLock<Arc<DefaultKeyedRateLimiter<K>>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new(burst: u32, refill: Duration) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(refill.max(Duration::from_millis(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Limiter {
            quota,
            inner: RwLock::new(Arc::new(DefaultKeyedRateLimiter::keyed(quota))),
        }
    }

    fn current(&self) -> Arc<DefaultKeyedRateLimiter<K>> {
        match self.inner.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Takes one attempt; `Err(seconds)` to wait when none is left.
    fn check(&self, key: &K) -> Result<(), u64> {
        let limiter = self.current();
        if limiter.len() >= MAX_LIMITER_KEYS {
            limiter.retain_recent();
            if limiter.len() >= MAX_LIMITER_KEYS {
                let fresh = Arc::new(DefaultKeyedRateLimiter::keyed(self.quota));
                match self.inner.write() {
                    Ok(mut guard) => *guard = fresh,
                    Err(poisoned) => *poisoned.into_inner() = fresh,
                }
            }
        }
        let limiter = self.current();
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// IPv6 clients usually hold a whole /64: limit them by it.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
        v4 => v4,
    }
}

/// Guards password checks: per-account and per-address attempt limits, and
/// a bound on concurrent argon2 hashing (about 19 MiB each).
pub struct SignInGuard {
    by_account: Limiter<u64>,
    by_address: Limiter<IpAddr>,
    /// Sign-ups per address (each costs a password hash and an account).
    signups_by_address: Limiter<IpAddr>,
    /// Account names are keyed by a keyed hash: 8 bytes a key, and the
    /// names themselves are not kept.
    name_hasher: std::collections::hash_map::RandomState,
    hashing: Arc<Semaphore>,
    hash_wait: Duration,
    metrics: Arc<Metrics>,
}

impl SignInGuard {
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        SignInGuard {
            by_account: Limiter::new(
                config.signin_account_burst,
                Duration::from_secs(config.signin_account_refill_s),
            ),
            by_address: Limiter::new(
                config.signin_address_burst,
                Duration::from_secs(config.signin_address_refill_s),
            ),
            signups_by_address: Limiter::new(
                config.signup_address_burst,
                Duration::from_secs(config.signup_address_refill_s),
            ),
            name_hasher: std::collections::hash_map::RandomState::new(),
            hashing: Arc::new(Semaphore::new(
                config.password_hash_concurrency.unwrap_or(cores).max(1),
            )),
            hash_wait: Duration::from_millis(config.password_hash_wait_ms),
            metrics,
        }
    }

    /// Counts one sign-in attempt against the client's address and the
    /// account name; 429 + Retry-After when either has none left.
    pub fn attempt(&self, address: Option<IpAddr>, username: &str) -> Result<(), ApiError> {
        let limited = |seconds: u64, field: &str| {
            self.metrics
                .signin_refusals
                .with_label_values(&[field])
                .inc();
            let mut e = ApiError::with(Code::TooManyRequests, "Session", field, "rate_limited");
            e.retry_after = Some(seconds.max(1));
            e
        };
        if let Some(ip) = address {
            self.by_address
                .check(&address_key(ip))
                .map_err(|s| limited(s, "address"))?;
        }
        self.by_account
            .check(&self.name_hasher.hash_one(username))
            .map_err(|s| limited(s, "username"))
    }

    /// Counts one sign-up against the client's address; 429 + Retry-After
    /// when it has none left.
    pub fn signup_attempt(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(ip) = address else { return Ok(()) };
        self.signups_by_address
            .check(&address_key(ip))
            .map_err(|seconds| {
                self.metrics
                    .signin_refusals
                    .with_label_values(&["signup_address"])
                    .inc();
                let mut e =
                    ApiError::with(Code::TooManyRequests, "Athlete", "address", "rate_limited");
                e.retry_after = Some(seconds.max(1));
                e
            })
    }

    /// A slot to hash a password in; waits at most the configured time, then
    /// 503 + Retry-After. Hold the permit until the hashing is done.
    pub async fn hashing_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(self.hash_wait, self.hashing.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                self.metrics
                    .signin_refusals
                    .with_label_values(&["busy"])
                    .inc();
                Err(ApiError::unavailable(1))
            }
        }
    }

    /// Checks a password against the account's hash, or against the dummy
    /// hash when there is no such account (same cost: no user-name oracle).
    /// Runs on the blocking pool inside a hashing slot.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let permit = self.hashing_slot().await?;
        let known = hash.is_some();
        let ok = off_arbiter(move || {
            let _permit = permit;
            match hash {
                Some(hash) => verify_password(&password, &hash),
                None => {
                    verify_password(&password, DUMMY_HASH.as_deref().unwrap_or_default());
                    false
                }
            }
        })
        .await?;
        self.metrics
            .password_checks
            .with_label_values(&[if known { "known" } else { "unknown" }])
            .inc();
        Ok(ok)
    }

    /// Hashes a new password inside a hashing slot.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let permit = self.hashing_slot().await?;
        off_arbiter(move || {
            let _permit = permit;
            hash_password(&password)
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, new_token());
        assert_ne!(hash_token(&a), a);
        assert_eq!(hash_token(&a), hash_token(&a));
    }

    #[test]
    fn cache_keys_by_digest() {
        let cache = TokenCache::default();
        let hash = hash_token(&new_token());
        assert_eq!(cache.get(&hash), None);
        cache.insert(&hash, AthleteId(7), 5);
        assert_eq!(cache.get(&hash), Some((AthleteId(7), 5)));
        cache.forget(&hash);
        assert_eq!(cache.get(&hash), None);
        let token = new_token();
        cache.insert(&hash_token(&token), AthleteId(9), 6);
        assert_eq!(
            cache.get_digest(&token_digest(&token)),
            Some((AthleteId(9), 6))
        );
        cache.insert("not hex", AthleteId(8), 5);
        assert_eq!(cache.get("not hex"), None);
    }

    #[test]
    fn lifetime_slides_and_throttles_renewal() {
        let day = 86_400_000;
        let l = TokenLifetime::new(90 * day);
        assert_eq!(l.renewal_interval_ms, 3_600_000);
        assert!(!l.expired(0, 90 * day - 1));
        assert!(l.expired(0, 90 * day));
        assert!(!l.due_for_renewal(0, 3_599_999));
        assert!(l.due_for_renewal(0, 3_600_000));
        // Short lifetimes (tests) renew at a tenth of it.
        assert_eq!(TokenLifetime::new(2_000).renewal_interval_ms, 200);
    }

    #[test]
    fn limiter_refuses_past_the_burst_and_names_the_wait() {
        let limiter = Limiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(limiter.check(&1u64), Ok(()));
        }
        let wait = limiter.check(&1u64).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        // Other keys are not affected.
        assert_eq!(limiter.check(&2u64), Ok(()));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(address_key(v4), v4);
    }

    #[test]
    fn password_round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
