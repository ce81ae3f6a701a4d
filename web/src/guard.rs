//! The web app's gate: every request passes [`Guard::check`] before any route sees it.
//!
//! In order, for every request:
//!
//! 1. **Host** ([`Guard::host_allowed`]): the `Host` header must be the bound address
//!    (`127.0.0.1:PORT`, `[::1]:PORT`) or `localhost:PORT`. A malicious page that re-points
//!    its own DNS name at 127.0.0.1 (DNS rebinding) sends `Host: evil.example:PORT` and gets
//!    `421 Misdirected Request`, so it can never read an answer, not even `401`.
//! 2. **Token exchange**: `GET /?token=T` with the right token answers `303 See Other` to `/`
//!    and sets the session cookie ([`Guard::cookie_name`], `HttpOnly; SameSite=Strict`); a
//!    wrong token gets `401`. The redirect drops the token from the address bar and history.
//! 3. **Cookie**: any other request must carry the cookie with the token, else `401`. Its
//!    name carries the port: cookies ignore ports, so two nodes on one machine (ant and bat
//!    in one browser) would otherwise overwrite each other's.
//! 4. **Origin** ([`Guard::origin_allowed`]): `POST`, `PUT`, `PATCH` and `DELETE` must carry
//!    `Origin: http://HOST` naming the Host the request came to, else `403`: a cross-site
//!    form or fetch cannot change anything, even though `SameSite=Strict` already keeps the
//!    cookie off cross-site requests (defence in depth, and for browsers that ignore it).
//!
//! Every answer, refusals included, carries [`CSP`] and the other headers of
//! [`SECURITY_HEADERS`]. Token comparisons are constant-time.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// The Content-Security-Policy of every answer: the app's own scripts, styles and images
/// (plus `data:` images, for invite QR codes), requests to its own origin only, nothing
/// inline, no plugins, no framing, forms only to itself.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Headers set on every answer.
pub const SECURITY_HEADERS: [(&str, &str); 6] = [
    ("content-security-policy", CSP),
    // A file served as text is never run as script or style.
    ("x-content-type-options", "nosniff"),
    // No page of the app sends its address (which once held the token) anywhere.
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// Why a request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The `Host` header names another site (DNS rebinding): `421`.
    ForeignHost,
    /// No valid cookie or token: `401`.
    Unauthenticated,
    /// A state-changing request from another origin, or without `Origin` (CSRF): `403`.
    ForeignOrigin,
}

impl Refusal {
    /// The HTTP status of the refusal.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::ForeignHost => StatusCode::MISDIRECTED_REQUEST,
            Refusal::Unauthenticated => StatusCode::UNAUTHORIZED,
            Refusal::ForeignOrigin => StatusCode::FORBIDDEN,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Refusal::ForeignHost => "this server answers only to its own address\n",
            Refusal::Unauthenticated => {
                "not signed in: open the URL that `cove web` prints (it changes at every start)\n"
            }
            Refusal::ForeignOrigin => "refused: this request did not come from the Cove app\n",
        }
    }
}

/// What a request is, to the guard.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through to the routes.
    Pass,
    /// The token is right: set the cookie and redirect to `/`.
    SignIn,
    /// Refuse it.
    Refuse(Refusal),
}

/// The bound address and this start's secret; cheap to clone.
#[derive(Clone)]
pub struct Guard {
    addr: SocketAddr,
    token: std::sync::Arc<str>,
    origin: std::sync::Arc<str>,
    hosts: std::sync::Arc<[String]>,
    cookie_name: std::sync::Arc<str>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Guard").field("addr", &self.addr).finish()
    }
}

impl Guard {
    /// A guard for a server bound at `addr`, with a fresh random 256-bit token.
    pub fn new(addr: SocketAddr) -> Guard {
        let secret: [u8; 32] = rand::random();
        Guard::with_token(addr, &hex::encode(secret))
    }

    /// A guard with a given token (for tests).
    pub fn with_token(addr: SocketAddr, token: &str) -> Guard {
        let bound = addr.to_string(); // "127.0.0.1:8080", "[::1]:8080"
        let hosts = vec![bound.clone(), format!("localhost:{}", addr.port())];
        Guard {
            addr,
            token: token.into(),
            origin: format!("http://{bound}").into(),
            hosts: hosts.into(),
            cookie_name: format!("cove_{}", addr.port()).into(),
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// This start's token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `http://ADDR`, the origin of the printed URL.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The session cookie's name: `cove_PORT`.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// Whether `host` (a `Host` header) names this server.
    pub fn host_allowed(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether `origin` (an `Origin` header) is the app's origin as reached through `host`.
    pub fn origin_allowed(&self, origin: Option<&str>, host: &str) -> bool {
        match origin.and_then(|o| o.strip_prefix("http://")) {
            Some(rest) => self.host_allowed(host) && rest.eq_ignore_ascii_case(host),
            None => false,
        }
    }

    fn token_matches(&self, candidate: &str) -> bool {
        candidate.len() == self.token.len()
            && bool::from(candidate.as_bytes().ct_eq(self.token.as_bytes()))
    }

    /// The session cookie's value in a request's `Cookie` headers, if any.
    fn cookie<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == &*self.cookie_name)
            .map(|(_, value)| value)
    }

    /// The decision on a request, from its method, path, query and headers only.
    pub fn judge(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Verdict {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !self.host_allowed(host) {
            return Verdict::Refuse(Refusal::ForeignHost);
        }
        if let Some(token) = query_token(query) {
            if method == Method::GET && path == "/" {
                return if self.token_matches(token) {
                    Verdict::SignIn
                } else {
                    Verdict::Refuse(Refusal::Unauthenticated)
                };
            }
        }
        if !self.cookie(headers).is_some_and(|c| self.token_matches(c)) {
            return Verdict::Refuse(Refusal::Unauthenticated);
        }
        let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if changes_state {
            let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
            if !self.origin_allowed(origin, host) {
                return Verdict::Refuse(Refusal::ForeignOrigin);
            }
        }
        Verdict::Pass
    }

    /// The middleware: judges the request, then passes it on, signs in or refuses; adds
    /// [`SECURITY_HEADERS`] to whatever is answered.
    pub async fn check(&self, request: Request, next: Next) -> Response {
        let verdict = self.judge(
            request.method(),
            request.uri().path(),
            request.uri().query(),
            request.headers(),
        );
        let mut response = match verdict {
            Verdict::Pass => next.run(request).await,
            Verdict::SignIn => {
                let cookie = format!(
                    "{}={}; HttpOnly; SameSite=Strict; Path=/",
                    self.cookie_name, self.token
                );
                let mut response = StatusCode::SEE_OTHER.into_response();
                let headers = response.headers_mut();
                headers.insert(header::LOCATION, HeaderValue::from_static("/"));
                if let Ok(cookie) = HeaderValue::from_str(&cookie) {
                    headers.insert(header::SET_COOKIE, cookie);
                }
                response
            }
            Verdict::Refuse(refusal) => {
                tracing::debug!(?refusal, path = request.uri().path(), "web request refused");
                (refusal.status(), refusal.message()).into_response()
            }
        };
        let headers = response.headers_mut();
        for (name, value) in SECURITY_HEADERS {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
        response
    }
}

/// The `token` parameter of a query string.
fn query_token(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "token")
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::with_token("127.0.0.1:4000".parse().unwrap(), "s3cret")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn hosts_are_the_bound_address_or_localhost_with_its_port() {
        let g = guard();
        assert!(g.host_allowed("127.0.0.1:4000"));
        assert!(g.host_allowed("LOCALHOST:4000"));
        assert!(!g.host_allowed("127.0.0.1:4001"));
        assert!(!g.host_allowed("evil.example:4000"));
        assert!(!g.host_allowed("127.0.0.1"));
        assert!(!g.host_allowed(""));
        let v6 = Guard::with_token("[::1]:4000".parse().unwrap(), "t");
        assert!(v6.host_allowed("[::1]:4000"));
        assert_eq!(v6.origin(), "http://[::1]:4000");
    }

    #[test]
    fn an_origin_must_be_the_app_reached_through_the_same_host() {
        let g = guard();
        let host = "127.0.0.1:4000";
        assert!(g.origin_allowed(Some("http://127.0.0.1:4000"), host));
        assert!(!g.origin_allowed(Some("http://localhost:4000"), host));
        assert!(!g.origin_allowed(Some("https://127.0.0.1:4000"), host));
        assert!(!g.origin_allowed(Some("http://evil.example"), host));
        assert!(!g.origin_allowed(Some("null"), host));
        assert!(!g.origin_allowed(None, host));
    }

    #[test]
    fn the_token_signs_in_only_on_get_slash() {
        let g = guard();
        let h = headers(&[("host", "127.0.0.1:4000")]);
        assert_eq!(
            g.judge(&Method::GET, "/", Some("token=s3cret"), &h),
            Verdict::SignIn
        );
        assert_eq!(
            g.judge(&Method::GET, "/", Some("token=s3creT"), &h),
            Verdict::Refuse(Refusal::Unauthenticated)
        );
        assert_eq!(
            g.judge(&Method::GET, "/api/groups", Some("token=s3cret"), &h),
            Verdict::Refuse(Refusal::Unauthenticated)
        );
    }

    #[test]
    fn the_cookie_is_found_among_others_by_its_port_name() {
        let g = guard();
        let ok = headers(&[
            ("host", "127.0.0.1:4000"),
            ("cookie", "cove_4001=other; cove_4000=s3cret"),
        ]);
        assert_eq!(g.judge(&Method::GET, "/api/x", None, &ok), Verdict::Pass);
        let wrong = headers(&[("host", "127.0.0.1:4000"), ("cookie", "cove_4001=s3cret")]);
        assert_eq!(
            g.judge(&Method::GET, "/api/x", None, &wrong),
            Verdict::Refuse(Refusal::Unauthenticated)
        );
    }

    #[test]
    fn the_host_is_checked_before_anything_else() {
        let g = guard();
        let h = headers(&[
            ("host", "rebind.example:4000"),
            ("cookie", "cove_4000=s3cret"),
        ]);
        assert_eq!(
            g.judge(&Method::GET, "/", Some("token=s3cret"), &h),
            Verdict::Refuse(Refusal::ForeignHost)
        );
    }

    #[test]
    fn state_changes_need_the_apps_origin() {
        let g = guard();
        let base = [("host", "127.0.0.1:4000"), ("cookie", "cove_4000=s3cret")];
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(
                g.judge(&method, "/api/posts", None, &headers(&base)),
                Verdict::Refuse(Refusal::ForeignOrigin)
            );
            let mut foreign = base.to_vec();
            foreign.push(("origin", "http://evil.example"));
            assert_eq!(
                g.judge(&method, "/api/posts", None, &headers(&foreign)),
                Verdict::Refuse(Refusal::ForeignOrigin)
            );
            let mut own = base.to_vec();
            own.push(("origin", "http://127.0.0.1:4000"));
            assert_eq!(
                g.judge(&method, "/api/posts", None, &headers(&own)),
                Verdict::Pass
            );
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        assert!(!format!("{:?}", guard()).contains("s3cret"));
    }
}
