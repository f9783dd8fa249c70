//! Strava-compatible OAuth 2 (issue 18), the pure parts: scopes, the
//! redirect URI rule, and the per-app rate limits. The handlers are in
//! `api::oauth` and `api::v3`.

pub mod rate;

use crate::domain::DomainError;

bitflags::bitflags! {
    /// Strava's scopes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Scopes: u32 {
        const READ = 1;
        const READ_ALL = 1 << 1;
        const PROFILE_READ_ALL = 1 << 2;
        const PROFILE_WRITE = 1 << 3;
        const ACTIVITY_READ = 1 << 4;
        const ACTIVITY_READ_ALL = 1 << 5;
        const ACTIVITY_WRITE = 1 << 6;
    }
}

const NAMES: [(Scopes, &str); 7] = [
    (Scopes::READ, "read"),
    (Scopes::READ_ALL, "read_all"),
    (Scopes::PROFILE_READ_ALL, "profile:read_all"),
    (Scopes::PROFILE_WRITE, "profile:write"),
    (Scopes::ACTIVITY_READ, "activity:read"),
    (Scopes::ACTIVITY_READ_ALL, "activity:read_all"),
    (Scopes::ACTIVITY_WRITE, "activity:write"),
];

impl Scopes {
    /// `read,activity:read_all` (commas or spaces, as clients send them).
    /// Empty means `read`, Strava's minimum.
    pub fn parse(s: &str) -> Result<Scopes, DomainError> {
        let mut scopes = Scopes::empty();
        for name in s.split([',', ' ']).map(str::trim).filter(|n| !n.is_empty()) {
            let (flag, _) = NAMES
                .iter()
                .find(|(_, n)| *n == name)
                .ok_or_else(|| DomainError::invalid("scope"))?;
            scopes |= *flag;
        }
        if scopes.is_empty() {
            scopes = Scopes::READ;
        }
        Ok(scopes)
    }

    /// The stored and shown form, in Strava's order.
    pub fn to_text(self) -> String {
        NAMES
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether the token may do what `needed` allows: the `_all` scopes
    /// include their plain ones.
    pub fn allows(self, needed: Scopes) -> bool {
        let mut have = self;
        if have.contains(Scopes::READ_ALL) {
            have |= Scopes::READ;
        }
        if have.contains(Scopes::ACTIVITY_READ_ALL) {
            have |= Scopes::ACTIVITY_READ;
        }
        have.contains(needed)
    }

    /// The name of a single scope (for Strava's `…_permission` errors).
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("read", |(_, n)| *n)
    }
}

/// The redirect rule: `uri` must have the scheme, host and port of one of
/// the app's registered URIs, and a path that is that URI's path or below
/// it (a segment boundary); any query is allowed, fragments are not.
/// (Strava checks only the host against one "callback domain"; ours is
/// stricter.)
pub fn redirect_allowed(registered: &[String], uri: &str) -> bool {
    let Ok(uri) = url::Url::parse(uri) else {
        return false;
    };
    if uri.fragment().is_some() || !matches!(uri.scheme(), "http" | "https") {
        return false;
    }
    registered.iter().any(|r| {
        let Ok(r) = url::Url::parse(r) else {
            return false;
        };
        let base = r.path().trim_end_matches('/');
        r.scheme() == uri.scheme()
            && r.host_str() == uri.host_str()
            && r.port_or_known_default() == uri.port_or_known_default()
            && (uri.path() == r.path()
                || uri
                    .path()
                    .strip_prefix(base)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
    })
}

/// A registered redirect URI: absolute http(s), no fragment, at most 1000
/// characters.
pub fn valid_redirect_uri(uri: &str) -> bool {
    uri.len() <= 1000
        && url::Url::parse(uri).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.fragment().is_none()
        })
}

/// The Strava-compatible API's shared parts on this node.
pub struct StravaState {
    pub rate: rate::RateLimiter,
    /// Callback validation and event delivery.
    pub webhook_client: reqwest::Client,
    /// Wakes the deliverer when events were queued here.
    pub webhook_wake: std::sync::Arc<tokio::sync::Notify>,
    /// Webhook background tasks, stopped with the node.
    pub tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl StravaState {
    pub fn new(limits: rate::Limits) -> StravaState {
        StravaState {
            rate: rate::RateLimiter::new(limits),
            webhook_client: crate::webhooks::http_client(),
            webhook_wake: Default::default(),
            tasks: Default::default(),
        }
    }

    pub fn stop(&self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            t.abort();
        }
    }
}

impl Drop for StravaState {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print() {
        let s = Scopes::parse("activity:read_all, read").unwrap();
        assert_eq!(s.to_text(), "read,activity:read_all");
        assert!(s.allows(Scopes::ACTIVITY_READ));
        assert!(!s.allows(Scopes::ACTIVITY_WRITE));
        assert_eq!(Scopes::parse("").unwrap(), Scopes::READ);
        assert!(Scopes::parse("read,admin").is_err());
        assert_eq!(Scopes::ACTIVITY_READ.name(), "activity:read");
    }

    #[test]
    fn redirects_match_scheme_host_port_and_path() {
        let reg = vec!["http://127.0.0.1:5000/cb".to_string()];
        assert!(redirect_allowed(&reg, "http://127.0.0.1:5000/cb"));
        assert!(redirect_allowed(&reg, "http://127.0.0.1:5000/cb/more?x=1"));
        assert!(!redirect_allowed(&reg, "http://127.0.0.1:5000/cbx"));
        assert!(!redirect_allowed(&reg, "http://127.0.0.1:5001/cb"));
        assert!(!redirect_allowed(&reg, "https://127.0.0.1:5000/cb"));
        assert!(!redirect_allowed(&reg, "http://evil.example/cb"));
        assert!(!redirect_allowed(&reg, "http://127.0.0.1:5000/cb#x"));
        let root = vec!["https://app.example/".to_string()];
        assert!(redirect_allowed(&root, "https://app.example/anything"));
        assert!(!redirect_allowed(&root, "https://app.example.evil/"));
        assert!(valid_redirect_uri("http://localhost/x"));
        assert!(!valid_redirect_uri("javascript:alert(1)"));
    }
}
