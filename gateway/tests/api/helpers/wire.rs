//! Answers as they cross the wire: raw bytes, their `Content-Encoding`, and decoders
//! that are not the server's (flate2 for gzip, the `brotli` crate for br), for the
//! compression tests; and a reader of a gzip-compressed SSE stream.

use super::TestApp;
use reqwest::header::HeaderMap;
use std::io::{Read, Write};
use std::time::Duration;

/// An answer read to the end without decoding.
pub(crate) struct Wire {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    /// The body as sent (compressed or not).
    pub(crate) raw: Vec<u8>,
}

impl Wire {
    /// A header's value, if present and text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body decoded per its `Content-Encoding` (none, `gzip` or `br`).
    pub(crate) fn decoded(&self) -> Vec<u8> {
        match self.header("content-encoding") {
            None => self.raw.clone(),
            Some("gzip") => gunzip(&self.raw),
            Some("br") => unbrotli(&self.raw),
            Some(other) => panic!("unexpected content-encoding {other}"),
        }
    }

    /// The decoded body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.decoded()).expect("a JSON body")
    }
}

/// gzip → bytes (flate2).
pub(crate) fn gunzip(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// br → bytes (the `brotli` crate).
pub(crate) fn unbrotli(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(raw, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

impl TestApp {
    /// `GET {path}` with `pass`, `Accept-Encoding: accept` (none when `None`) and the
    /// extra `headers`, read raw.
    pub(crate) async fn get_wire(
        &self,
        path: &str,
        pass: &str,
        accept: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Wire {
        let mut req = self.client.get(self.url(path)).bearer_auth(pass);
        if let Some(a) = accept {
            req = req.header("accept-encoding", a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("Failed to execute request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let raw = resp
            .bytes()
            .await
            .expect("Failed to read the body")
            .to_vec();
        Wire {
            status,
            headers,
            raw,
        }
    }
}

/// One SSE frame: its `event:` name and its raw `data:`.
pub(crate) struct RawEvent {
    pub(crate) event: String,
    pub(crate) data: String,
}

/// A gzip-compressed SSE stream, decompressed as its chunks arrive.
pub(crate) struct GzipSse {
    resp: reqwest::Response,
    decoder: flate2::write::GzDecoder<Vec<u8>>,
    text: String,
}

impl GzipSse {
    /// Wraps `resp`, asserting `200` and `Content-Encoding: gzip`.
    pub(crate) fn new(resp: reqwest::Response) -> Self {
        assert_eq!(resp.status().as_u16(), 200, "stream refused");
        let encoding = resp.headers().get("content-encoding").cloned();
        assert_eq!(
            encoding.as_ref().and_then(|v| v.to_str().ok()),
            Some("gzip"),
            "the stream is not gzip-compressed"
        );
        Self {
            resp,
            decoder: flate2::write::GzDecoder::new(Vec::new()),
            text: String::new(),
        }
    }

    /// The next frame with data (keep-alive comments skipped), within `deadline`: a
    /// frame the server sent but its compressor held back never comes.
    pub(crate) async fn next(&mut self, deadline: Duration, what: &str) -> RawEvent {
        let read = async {
            loop {
                if let Some(end) = self.text.find("\n\n") {
                    let frame: String = self.text.drain(..end + 2).collect();
                    let (mut event, mut data) = (String::from("message"), String::new());
                    for line in frame.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            event = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        }
                    }
                    if !data.is_empty() {
                        return RawEvent { event, data };
                    }
                    continue;
                }
                let chunk = self.resp.chunk().await.expect("stream broke");
                let chunk = chunk.expect("stream ended");
                self.decoder.write_all(&chunk).expect("valid gzip");
                self.decoder.flush().expect("valid gzip");
                let out = std::mem::take(self.decoder.get_mut());
                self.text.push_str(&String::from_utf8_lossy(&out));
            }
        };
        tokio::time::timeout(deadline, read)
            .await
            .unwrap_or_else(|_| panic!("no SSE frame ({what}) within {deadline:?}"))
    }
}
