//! The HTTP edge, and the only part of the gateway that knows HTTP and the application
//! state ([`state::AppState`]).
//!
//! - [`routes`]: the router, one file per route group, and the limit layers that guard
//!   each sub-router.
//! - [`limits`]: abuse limits (per client IP, per token, the shared join quota, open
//!   streams, failed admin keys).
//! - [`middleware`]: request id, span, panic catching, HTTP metrics, the error log line.
//! - [`compression`]: gzip and Brotli of every answer worth it, streams included.
//! - [`auth`]: credential extractors that verify themselves; [`extract`]: body and path
//!   extractors with the API's rejections.
//! - [`error`]: [`error::ApiError`] and the JSON error body; [`openapi`]: the served
//!   OpenAPI document.
//! - [`venue_auth`]: the credentials of the venue's servers (API keys).

pub mod auth;
pub mod compression;
pub mod error;
pub mod extract;
pub mod limits;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod state;
pub mod venue_auth;
