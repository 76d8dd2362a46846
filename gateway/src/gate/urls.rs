//! The URL rules of gate mode, pure and unit-tested.
//!
//! - The hand-off adds `anteroom_pass=<pass>` to the shop's URL, keeping its own query
//!   byte for byte and dropping any `anteroom_pass` already there (a stale pass first in
//!   the query would otherwise be found again by the check, and the fan sent round).
//! - A `return` URL is followed only when its origin (scheme, host, port) is the gate
//!   target's: the gateway never redirects a fan to a site the venue did not name.
//! - The queue page's absolute URL comes from the `public_url` setting, else from the
//!   request's `Host` with `http://`.

use super::PASS_PARAM;
use url::Url;

/// The `public_url` setting: an absolute `http://` or `https://` URL without user,
/// password, query or fragment; the fan pages are under it (`{public_url}/e/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    /// The base URL of `s` without a trailing `/`; `None` if `s` is not such a URL.
    pub fn parse(s: &str) -> Option<Self> {
        let url = Url::parse(s).ok()?;
        let ok = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none();
        ok.then(|| PublicUrl(url.as_str().trim_end_matches('/').to_owned()))
    }

    /// The base from a request's `Host` header (`http://{host}`), when `public_url` is
    /// not set; `None` for a host that does not make a URL.
    pub fn from_host(host: &str) -> Option<Self> {
        Self::parse(&format!("http://{host}"))
    }

    /// The base, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `url` parses and has the origin (scheme, host, port) of `target`.
pub fn same_origin(url: &str, target: &Url) -> bool {
    Url::parse(url).is_ok_and(|u| u.origin() == target.origin())
}

/// `url` with every `anteroom_pass` pair removed from its query (the rest kept as
/// written); `None` if `url` does not parse.
pub fn without_pass(url: &str) -> Option<Url> {
    let mut url = Url::parse(url).ok()?;
    let kept = url.query().map(|q| {
        q.split('&')
            .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(PASS_PARAM))
            .collect::<Vec<_>>()
            .join("&")
    });
    url.set_query(kept.as_deref().filter(|q| !q.is_empty()));
    Some(url)
}

/// Where the hand-off sends an admitted fan: `return` if it has the target's origin,
/// else the target; either with `anteroom_pass=<pass>` appended to its query.
pub fn hand_off(target: &str, return_to: Option<&str>, pass: &str) -> Option<String> {
    let target_url = Url::parse(target).ok()?;
    let base = return_to
        .filter(|r| same_origin(r, &target_url))
        .unwrap_or(target);
    let mut url = without_pass(base)?;
    url.query_pairs_mut().append_pair(PASS_PARAM, pass);
    Some(url.into())
}

/// The queue page of `event` under `base`, with `return` set to `original` when it has
/// the target's origin (its `anteroom_pass` removed), percent-encoded.
pub fn queue_page(base: &PublicUrl, event: &str, original: Option<&str>, target: &str) -> String {
    let page = format!("{}/e/{event}", base.as_str());
    let Ok(target) = Url::parse(target) else {
        return page;
    };
    match original
        .filter(|o| same_origin(o, &target))
        .and_then(without_pass)
    {
        Some(back) => {
            let encoded: String =
                url::form_urlencoded::byte_serialize(back.as_str().as_bytes()).collect();
            format!("{page}?return={encoded}")
        }
        None => page,
    }
}

/// The value of `name` in a query string (`a=1&b=2`), percent-decoded; the first one.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = "https://shop.example.com/tickets?lang=ko&x=a%20b";

    #[test]
    fn the_pass_is_added_and_the_target_query_kept() {
        assert_eq!(
            hand_off(TARGET, None, "h.p.s").as_deref(),
            Some("https://shop.example.com/tickets?lang=ko&x=a%20b&anteroom_pass=h.p.s")
        );
        assert_eq!(
            hand_off("https://shop.example.com", None, "t").as_deref(),
            Some("https://shop.example.com/?anteroom_pass=t")
        );
        // A stale pass in the URL is replaced, not repeated.
        assert_eq!(
            hand_off(
                TARGET,
                Some("https://shop.example.com/cart?anteroom_pass=old&item=3"),
                "new"
            )
            .as_deref(),
            Some("https://shop.example.com/cart?item=3&anteroom_pass=new")
        );
    }

    #[test]
    fn return_is_followed_only_to_the_target_origin() {
        let followed = |r: &str| hand_off(TARGET, Some(r), "t").unwrap();
        assert!(
            followed("https://shop.example.com/cart").starts_with("https://shop.example.com/cart?")
        );
        // Default port spelled out is the same origin.
        assert!(
            followed("https://shop.example.com:443/a").starts_with("https://shop.example.com/a?")
        );
        for other in [
            "https://evil.example.net/",
            "http://shop.example.com/cart",
            "https://shop.example.com:8443/cart",
            "https://shop.example.com.evil.net/",
            "//evil.example.net/",
            "/cart",
            "javascript:alert(1)",
        ] {
            assert!(
                followed(other).starts_with("https://shop.example.com/tickets?"),
                "{other}"
            );
        }
    }

    #[test]
    fn the_queue_page_carries_return_for_the_target_origin_only() {
        let base = PublicUrl::parse("https://queue.example.com/").unwrap();
        assert_eq!(base.as_str(), "https://queue.example.com");
        assert_eq!(
            queue_page(
                &base,
                "E",
                Some("https://shop.example.com/cart?item=3&anteroom_pass=x"),
                TARGET
            ),
            "https://queue.example.com/e/E?return=https%3A%2F%2Fshop.example.com%2Fcart%3Fitem%3D3"
        );
        assert_eq!(
            queue_page(&base, "E", Some("https://evil.example.net/"), TARGET),
            "https://queue.example.com/e/E"
        );
        assert_eq!(
            queue_page(&base, "E", None, TARGET),
            "https://queue.example.com/e/E"
        );
        let host = PublicUrl::from_host("127.0.0.1:8080").unwrap();
        assert_eq!(
            queue_page(&host, "E", None, TARGET),
            "http://127.0.0.1:8080/e/E"
        );
    }

    #[test]
    fn public_urls_are_absolute_without_query() {
        assert!(PublicUrl::parse("https://queue.example.com/base").is_some());
        for bad in [
            "queue.example.com",
            "ftp://queue.example.com",
            "https://u:p@queue.example.com",
            "https://queue.example.com/?a=1",
            "https://queue.example.com/#f",
        ] {
            assert!(PublicUrl::parse(bad).is_none(), "{bad}");
        }
        assert!(PublicUrl::from_host("bad host/").is_none());
    }

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(
            query_param("a=1&anteroom_pass=x%2Ey", PASS_PARAM).as_deref(),
            Some("x.y")
        );
        assert_eq!(query_param("anteroom_pass=", PASS_PARAM), None);
        assert_eq!(query_param("b=2", PASS_PARAM), None);
    }
}
