//! A fully read HTTP response with assertion helpers for the docs/API.md error body.

use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Status, headers and JSON body (or `Value::String` of the raw text if not JSON).
#[derive(Debug, Clone)]
pub(crate) struct ApiResponse {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl ApiResponse {
    /// Reads `resp` to the end.
    pub(crate) async fn read(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("Failed to read the response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Self {
            status,
            headers,
            body,
        }
    }

    /// `error.code` of the docs/API.md error body, or `""`.
    pub(crate) fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts the status and the error code, and that the error body has a message.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "expected {status} {code}, got {} {}",
            self.status,
            self.body
        );
        assert!(
            self.body["error"]["message"].is_string(),
            "error body without message: {}",
            self.body
        );
        self
    }

    /// Asserts the status (with the body in the failure message).
    #[track_caller]
    pub(crate) fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "expected {status}, got {} {}",
            self.status, self.body
        );
        self
    }

    /// Deserializes the body into `T`, panicking with the body on mismatch.
    #[track_caller]
    pub(crate) fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.body.clone()).unwrap_or_else(|e| {
            panic!(
                "body does not match {}: {e}: {}",
                std::any::type_name::<T>(),
                self.body
            )
        })
    }

    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a `Retry-After` header with a positive number of seconds.
    #[track_caller]
    pub(crate) fn assert_retry_after(&self) -> &Self {
        let value = self.header("retry-after");
        let secs: Option<u64> = value.and_then(|v| v.trim().parse().ok());
        assert!(
            secs.is_some_and(|s| s > 0),
            "expected Retry-After seconds, got {value:?} ({} {})",
            self.status,
            self.body
        );
        self
    }
}
