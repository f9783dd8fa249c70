//! Access tokens and password hashing.
//!
//! Tokens are 256 random bits, hex-encoded, handed out once and stored as
//! their SHA-256. They are accepted as `Authorization: Bearer …` or as
//! `?access_token=…` (EventSource cannot set headers).

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use dashmap::DashMap;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::domain::AthleteId;
use crate::error::ApiError;
use crate::startup::AppState;

/// Cached token lookups; beyond this many the cache starts afresh.
const TOKEN_CACHE_CAPACITY: usize = 4_000_000;

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
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

/// Token hash → athlete, so authenticating a fix does not query the database.
/// Revocation goes through `forget`, so the cache never outlives a token.
/// Keys are the raw 32-byte digests (not hex): a node caches a token per
/// live athlete, so the entry size counts.
#[derive(Default)]
pub struct TokenCache {
    entries: DashMap<[u8; 32], AthleteId>,
}

fn cache_key(token_hash: &str) -> Option<[u8; 32]> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(token_hash, &mut key).ok()?;
    Some(key)
}

impl TokenCache {
    pub fn get(&self, token_hash: &str) -> Option<AthleteId> {
        self.entries
            .get(&cache_key(token_hash)?)
            .map(|e| *e.value())
    }

    pub fn insert(&self, token_hash: &str, athlete: AthleteId) {
        let Some(key) = cache_key(token_hash) else {
            return;
        };
        if self.entries.len() >= TOKEN_CACHE_CAPACITY {
            self.entries.clear();
        }
        self.entries.insert(key, athlete);
    }

    pub fn forget(&self, token_hash: &str) {
        if let Some(key) = cache_key(token_hash) {
            self.entries.remove(&key);
        }
    }
}

/// The presented token, if any, from the header or the query string.
pub fn presented_token(req: &HttpRequest) -> Option<String> {
    if let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        return Some(token.trim().to_string());
    }
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
}

/// The authenticated caller. Extracting it answers 401 when the token is
/// missing or invalid.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: AthleteId,
    pub token_hash: String,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = presented_token(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let (Some(token), Some(state)) = (token, state) else {
                return Err(ApiError::unauthorized());
            };
            let token_hash = hash_token(&token);
            if let Some(id) = state.tokens.get(&token_hash) {
                return Ok(Caller { id, token_hash });
            }
            match state.store.token_owner(&token_hash).await? {
                Some(id) => {
                    state.tokens.insert(&token_hash, id);
                    Ok(Caller { id, token_hash })
                }
                None => Err(ApiError::unauthorized()),
            }
        })
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
        cache.insert(&hash, AthleteId(7));
        assert_eq!(cache.get(&hash), Some(AthleteId(7)));
        cache.forget(&hash);
        assert_eq!(cache.get(&hash), None);
        cache.insert("not hex", AthleteId(8));
        assert_eq!(cache.get("not hex"), None);
    }

    #[test]
    fn password_round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
