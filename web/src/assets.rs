//! The page: three files embedded in the binary with `include_str!`, served as they are.
//! Plain HTML, CSS and JavaScript, no build step, no third-party code; every user-supplied
//! string is put in the page with `textContent` (see `assets/app.js`, `text()` and `el()`).

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::api::State;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

pub(crate) fn routes() -> Router<State> {
    Router::new()
        .route("/", get(|| file("text/html; charset=utf-8", INDEX_HTML)))
        .route(
            "/app.js",
            get(|| file("text/javascript; charset=utf-8", APP_JS)),
        )
        .route("/app.css", get(|| file("text/css; charset=utf-8", APP_CSS)))
}

async fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type)], body)
}
