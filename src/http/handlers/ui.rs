//! The browser pages: four static files compiled into the binary (no build
//! step), served with headers that forbid inline script, framing and
//! referrers. The pages hold no data of their own: they call the JSON API
//! with the session cookie.

use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};

const INDEX_HTML: &str = include_str!("../../../ui/index.html");
const APP_JS: &str = include_str!("../../../ui/app.js");
const KEYS_JS: &str = include_str!("../../../ui/keys.js");
const APP_CSS: &str = include_str!("../../../ui/app.css");

/// No inline script or style, nothing from elsewhere, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the pages' security headers to a response.
pub fn secured(mut res: HttpResponseBuilder) -> HttpResponseBuilder {
    res.insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header(("cross-origin-opener-policy", "same-origin"));
    res
}

pub async fn to_pages() -> HttpResponse {
    secured(HttpResponse::SeeOther())
        .insert_header((header::LOCATION, "/ui/"))
        .finish()
}

fn page(content_type: &'static str, body: &'static str) -> HttpResponse {
    secured(HttpResponse::Ok())
        .insert_header((header::CONTENT_TYPE, content_type))
        .body(body)
}

pub async fn index() -> HttpResponse {
    index_page()
}

/// The pages' one HTML document (also the page behind a sign-in link).
pub fn index_page() -> HttpResponse {
    page("text/html; charset=utf-8", INDEX_HTML)
}

pub async fn app_js() -> HttpResponse {
    page("text/javascript; charset=utf-8", APP_JS)
}

pub async fn keys_js() -> HttpResponse {
    page("text/javascript; charset=utf-8", KEYS_JS)
}

pub async fn app_css() -> HttpResponse {
    page("text/css; charset=utf-8", APP_CSS)
}
