//! Strings that reach storage, as domain types ("parse, don't validate").
//!
//! Every string a client sends that the worker stores (PostgreSQL `text` and `jsonb`,
//! Redis documents) or that ends up in logs, CSV exports and the venue console enters
//! the program as one of these types. The only way to build one is [`TryFrom<String>`]
//! (also used by `Deserialize`), which refuses:
//!
//! - control characters: C0 (U+0000–U+001F, tab and newline included: every field is a
//!   single line), DEL (U+007F) and C1 (U+0080–U+009F). PostgreSQL cannot store NUL in
//!   `text` (`invalid byte sequence for encoding "UTF8": 0x00`) nor in `jsonb`
//!   (`unsupported Unicode escape sequence`), and a batch that cannot be stored would
//!   stall its shard; the others break log lines and CSV rows;
//! - the line and paragraph separators U+2028/U+2029 (line breaks to many readers) and
//!   the bidirectional embedding, override and isolate controls U+202A–U+202E and
//!   U+2066–U+2069, which reorder how a line is displayed ("Trojan Source"); ordinary
//!   right-to-left text (Hebrew, Arabic) and the marks U+200E/U+200F are accepted;
//! - values that are empty, blank where a blank value means nothing, or longer than the
//!   field's limit (counted in Unicode scalar values, `char`s, not bytes).
//!
//! Lone UTF-16 surrogates (`"\ud800"` in JSON) cannot reach these types at all: a Rust
//! `String` cannot hold one, and serde_json refuses the escape while decoding the string.
//!
//! Each type serializes as a plain JSON string and documents itself in OpenAPI as a
//! string with `maxLength`. The rules are summarised for operators in `docs/INPUT.md`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

/// Why a string was refused. The message names the problem only: the caller knows
/// the field (or JSON path) and prefixes it, e.g. `payment_ref: must not contain
/// control characters (U+0000 at character 4)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// A control character (C0, DEL, C1) or a line/paragraph separator.
    #[error("must not contain control characters (U+{code:04X} at character {at})")]
    Control {
        /// The code point found.
        code: u32,
        /// Its position, counted in characters from 1.
        at: usize,
    },
    /// A bidirectional embedding, override or isolate control.
    #[error(
        "must not contain bidirectional formatting characters (U+{code:04X} at character {at})"
    )]
    Bidi {
        /// The code point found.
        code: u32,
        /// Its position, counted in characters from 1.
        at: usize,
    },
    /// No characters.
    #[error("must not be empty")]
    Empty,
    /// Only white space.
    #[error("must not be blank")]
    Blank,
    /// More characters than the field allows.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
    /// A character outside the field's alphabet; the text says which are allowed.
    #[error("{0}")]
    Alphabet(&'static str),
    /// Not an IANA time zone name.
    #[error("must be an IANA time zone name, e.g. Asia/Seoul")]
    UnknownTimeZone,
    /// Not an ISO 4217 currency code with a minor unit.
    #[error("must be an ISO 4217 currency code with a minor unit, e.g. KRW or USD")]
    UnknownCurrency,
    /// Not an absolute `https://` URL (or `http://` on a loopback host) without
    /// credentials or fragment.
    #[error("must be an absolute https:// URL (http:// only for localhost), without user, password or fragment")]
    NotUrl,
}

/// Whether `c` is refused in every field as a control character: C0, DEL, C1, and the
/// line and paragraph separators.
pub fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Whether `c` is a bidirectional embedding, override or isolate control.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The characters a field allows, and how its refusal says so.
type Alphabet = (fn(char) -> bool, &'static str);

/// A last check of a whole value.
type Check = fn(&str) -> Result<(), TextError>;

/// The rules of one field.
struct Rule {
    /// Most characters.
    max: usize,
    /// Whether a value of only white space is refused.
    refuse_blank: bool,
    /// The allowed characters (beyond the control rules) and how to say so.
    alphabet: Option<Alphabet>,
    /// A last check of the whole value (e.g. against the tz database).
    extra: Option<Check>,
}

impl Rule {
    /// Checks `s`: control and bidi characters first (the most important finding),
    /// then emptiness, length, blankness and the alphabet.
    fn check(&self, s: &str) -> Result<(), TextError> {
        let mut count = 0usize;
        for (i, c) in s.chars().enumerate() {
            if is_control(c) {
                return Err(TextError::Control {
                    code: u32::from(c),
                    at: i + 1,
                });
            }
            if is_bidi_control(c) {
                return Err(TextError::Bidi {
                    code: u32::from(c),
                    at: i + 1,
                });
            }
            count += 1;
        }
        if count == 0 {
            return Err(TextError::Empty);
        }
        if count > self.max {
            return Err(TextError::TooLong { max: self.max });
        }
        if self.refuse_blank && s.trim().is_empty() {
            return Err(TextError::Blank);
        }
        if let Some((allowed, says)) = self.alphabet {
            if !s.chars().all(allowed) {
                return Err(TextError::Alphabet(says));
            }
        }
        match self.extra {
            Some(extra) => extra(s),
            None => Ok(()),
        }
    }
}

fn section_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn seat_char(c: char) -> bool {
    section_char(c) || c == '-'
}

fn time_zone_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+')
}

fn fingerprint_char(c: char) -> bool {
    c.is_ascii_graphic()
}

fn currency_char(c: char) -> bool {
    c.is_ascii_uppercase()
}

fn known_currency(s: &str) -> Result<(), TextError> {
    match iso_currency::Currency::from_code(s) {
        Some(c) if s.len() == 3 && c.exponent().is_some() => Ok(()),
        _ => Err(TextError::UnknownCurrency),
    }
}

fn checkout_url(s: &str) -> Result<(), TextError> {
    let url = url::Url::parse(s).map_err(|_| TextError::NotUrl)?;
    let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
        || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok || url.host().is_none() || url.fragment().is_some() {
        return Err(TextError::NotUrl);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TextError::NotUrl);
    }
    Ok(())
}

fn known_time_zone(s: &str) -> Result<(), TextError> {
    s.parse::<chrono_tz::Tz>()
        .map(|_| ())
        .map_err(|_| TextError::UnknownTimeZone)
}

macro_rules! text_type {
    (
        $(#[$doc:meta])*
        $name:ident, max = $max:expr, rule = $rule:expr, example = $example:literal
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Most characters a value may have.
            pub const MAX_CHARS: usize = $max;

            /// Parses `s`.
            ///
            /// # Errors
            /// [`TextError`] naming the first problem found.
            pub fn parse(s: impl Into<String>) -> Result<Self, TextError> {
                let s = s.into();
                let rule: Rule = $rule;
                rule.check(&s)?;
                Ok(Self(s))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = TextError;
            fn try_from(s: String) -> Result<Self, TextError> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = TextError;
            fn try_from(s: &str) -> Result<Self, TextError> {
                Self::parse(s)
            }
        }

        impl FromStr for $name {
            type Err = TextError;
            fn from_str(s: &str) -> Result<Self, TextError> {
                Self::parse(s)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::parse(s).map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some($max))
                    .examples([$example])
                    .description(Some(concat!(
                        "No control characters (C0, DEL, C1, U+2028/U+2029) nor ",
                        "bidirectional overrides; at most ",
                        stringify!($max),
                        " characters."
                    )))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

text_type!(
    /// An event's display name (`EventSpec.name`): 1–200 characters, not blank, any
    /// script (right-to-left text and emoji are fine).
    EventName, max = 200,
    rule = Rule { max: 200, refuse_blank: true, alphabet: None, extra: None },
    example = "Winter Concert, Day 1"
);

text_type!(
    /// A venue's name (`EventSpec.venue`): 1–200 characters, not blank, any script.
    VenueName, max = 200,
    rule = Rule { max: 200, refuse_blank: true, alphabet: None, extra: None },
    example = "Olympic Hall"
);

text_type!(
    /// An IANA time zone name (`EventSpec.timezone`), e.g. `Asia/Seoul`: one that the
    /// tz database (chrono-tz) knows, at most 64 characters.
    TimeZoneName, max = 64,
    rule = Rule {
        max: 64,
        refuse_blank: true,
        alphabet: Some((time_zone_char, "must be an IANA time zone name, e.g. Asia/Seoul")),
        extra: Some(known_time_zone),
    },
    example = "Asia/Seoul"
);

text_type!(
    /// A seating section's name: 1–16 ASCII letters, digits or `_` (never `-`, which
    /// separates the parts of a seat id).
    SectionName, max = 16,
    rule = Rule {
        max: 16,
        refuse_blank: true,
        alphabet: Some((section_char, "must be 1 to 16 letters, digits or '_'")),
        extra: None,
    },
    example = "A"
);

text_type!(
    /// A seat id as a client names it, `{section}-{row}-{number}` (e.g. `A-1-2`): 1–40
    /// ASCII letters, digits, `_` or `-`. Whether the seat exists is decided against the
    /// event's seating, not here.
    SeatId, max = 40,
    rule = Rule {
        max: 40,
        refuse_blank: true,
        alphabet: Some((seat_char, "must be a seat id {section}-{row}-{number} of letters, digits, '_' and '-'")),
        extra: None,
    },
    example = "A-1-2"
);

text_type!(
    /// The payment reference of a confirm (`payment_ref`): 1–200 characters, not blank,
    /// any script. Stored with the order.
    PaymentRef, max = 200,
    rule = Rule { max: 200, refuse_blank: true, alphabet: None, extra: None },
    example = "mock-123"
);

text_type!(
    /// The ticketing site's reference of a user (`user_ref` of the join body): 1–256
    /// characters, any script. The queue keeps only its keyed hash; a pass that names it
    /// carries it to the holds made with it, for the venue's server.
    UserRef, max = 256,
    rule = Rule { max: 256, refuse_blank: false, alphabet: None, extra: None },
    example = "user-42"
);

text_type!(
    /// A client's `Idempotency-Key`: 1–255 characters. (An HTTP header carries visible
    /// ASCII and spaces only; the type itself accepts any script, as the worker may be
    /// handed one by another publisher.)
    IdempotencyKey, max = 255,
    rule = Rule { max: 255, refuse_blank: false, alphabet: None, extra: None },
    example = "3f6c0d1e-checkout-1"
);

text_type!(
    /// The fingerprint of an idempotent request (hex SHA-256, computed by the gateway):
    /// 1–128 visible ASCII characters, no spaces.
    Fingerprint, max = 128,
    rule = Rule {
        max: 128,
        refuse_blank: true,
        alphabet: Some((fingerprint_char, "must be visible ASCII characters")),
        extra: None,
    },
    example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
);

text_type!(
    /// The venue's checkout page (`checkout.url` of an event in origin mode): an
    /// absolute `https://` URL (or `http://` for a loopback host, for trying it locally)
    /// of at most 2,048 characters, without a fragment. The fan page sends fans there
    /// with `hold_id` and `hold_token` added to its query.
    CheckoutUrl, max = 2048,
    rule = Rule { max: 2048, refuse_blank: true, alphabet: None, extra: Some(checkout_url) },
    example = "https://shop.example.com/pay"
);

text_type!(
    /// An ISO 4217 currency code (`currency` of an event), e.g. `KRW` or `USD`: three
    /// capital letters naming a currency the `iso_currency` table knows with a minor
    /// unit. Prices are whole numbers of that minor unit ([`CurrencyCode::minor_units`]).
    CurrencyCode, max = 3,
    rule = Rule {
        max: 3,
        refuse_blank: true,
        alphabet: Some((currency_char, "must be three capital letters (ISO 4217)")),
        extra: Some(known_currency),
    },
    example = "KRW"
);

impl CurrencyCode {
    /// Digits after the decimal point of the currency's minor unit (ISO 4217): 0 for
    /// KRW and JPY, 2 for USD and EUR, 3 for KWD. Prices are counted in that unit.
    pub fn minor_units(&self) -> u32 {
        iso_currency::Currency::from_code(self.as_str())
            .and_then(|c| c.exponent())
            .map_or(2, u32::from)
    }
}

text_type!(
    /// Why the venue cancelled an order (`reason` of an order cancel): 1–500
    /// characters, not blank, any script. Stored with the order.
    CancelReason, max = 500,
    rule = Rule { max: 500, refuse_blank: true, alphabet: None, extra: None },
    example = "refunded at the fan's request"
);

text_type!(
    /// The name an admin gives an API key (`name` of `POST /v1/admin/api-keys`), to
    /// tell keys apart in the console: 1–100 characters, not blank, any script.
    ApiKeyName, max = 100,
    rule = Rule { max: 100, refuse_blank: true, alphabet: None, extra: None },
    example = "box office server"
);

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;

text_type!(
    /// A webhook endpoint's URL (`url` of `POST /v1/admin/webhooks`): the same rule as
    /// [`CheckoutUrl`] (absolute `https://`, or `http://` for a loopback host; no
    /// credentials, no fragment; at most 2,048 characters), since messages carry order
    /// details and payment references.
    WebhookUrl, max = 2048,
    rule = Rule { max: 2048, refuse_blank: true, alphabet: None, extra: Some(checkout_url) },
    example = "https://shop.example.com/anteroom/webhooks"
);

text_type!(
    /// Where a gated event sends admitted fans (`gate.target_url`): the venue's own
    /// shop, with the same rule as [`CheckoutUrl`] (absolute `https://`, or `http://`
    /// for a loopback host; no credentials, no fragment; at most 2,048 characters). The
    /// hand-off adds `anteroom_pass` to its query.
    GateUrl, max = 2048,
    rule = Rule { max: 2048, refuse_blank: true, alphabet: None, extra: Some(checkout_url) },
    example = "https://shop.example.com/tickets"
);

text_type!(
    /// The `Domain` of the pass cookie a gated event sets for its shop
    /// (`gate.cookie_domain`), e.g. `example.com`: at most 253 ASCII letters, digits,
    /// hyphens and dots, in labels of 1–63 characters that neither start nor end with a
    /// hyphen. One leading dot is tolerated (browsers ignore it).
    CookieDomain, max = 253,
    rule = Rule {
        max: 253,
        refuse_blank: true,
        alphabet: Some((domain_char, "must be a domain name of letters, digits, '-' and '.'")),
        extra: Some(domain_labels),
    },
    example = "example.com"
);

fn domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.')
}

fn domain_labels(s: &str) -> Result<(), TextError> {
    const SAYS: &str = "must be a domain name: labels of 1 to 63 letters, digits or '-', \
                        separated by dots, not starting or ending with '-'";
    let name = s.strip_prefix('.').unwrap_or(s);
    let ok = name.split('.').all(|label| {
        (1..=63).contains(&label.len()) && !label.starts_with('-') && !label.ends_with('-')
    });
    if ok {
        Ok(())
    } else {
        Err(TextError::Alphabet(SAYS))
    }
}
