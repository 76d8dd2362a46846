use super::*;
use proptest::prelude::*;

/// Every type's parse, as `(name, parse)`, for properties over all of them.
type Parse = fn(&str) -> Result<(), TextError>;

const FREE_TEXT: &[(&str, Parse)] = &[
    ("event name", |s| EventName::parse(s).map(drop)),
    ("venue", |s| VenueName::parse(s).map(drop)),
    ("payment_ref", |s| PaymentRef::parse(s).map(drop)),
    ("user_ref", |s| UserRef::parse(s).map(drop)),
    ("idempotency key", |s| IdempotencyKey::parse(s).map(drop)),
];

const ALL: &[(&str, Parse)] = &[
    ("event name", |s| EventName::parse(s).map(drop)),
    ("venue", |s| VenueName::parse(s).map(drop)),
    ("timezone", |s| TimeZoneName::parse(s).map(drop)),
    ("section", |s| SectionName::parse(s).map(drop)),
    ("seat id", |s| SeatId::parse(s).map(drop)),
    ("payment_ref", |s| PaymentRef::parse(s).map(drop)),
    ("user_ref", |s| UserRef::parse(s).map(drop)),
    ("idempotency key", |s| IdempotencyKey::parse(s).map(drop)),
    ("fingerprint", |s| Fingerprint::parse(s).map(drop)),
];

/// The characters refused everywhere, from the definition (independent of `is_control`).
fn refused_chars() -> impl Strategy<Value = char> {
    prop_oneof![
        (0u32..=0x1F).prop_map(|c| char::from_u32(c).unwrap()),
        Just('\u{7F}'),
        (0x80u32..=0x9F).prop_map(|c| char::from_u32(c).unwrap()),
        Just('\u{2028}'),
        Just('\u{2029}'),
        (0x202Au32..=0x202E).prop_map(|c| char::from_u32(c).unwrap()),
        (0x2066u32..=0x2069).prop_map(|c| char::from_u32(c).unwrap()),
    ]
}

#[test]
fn nul_is_refused_with_its_position() {
    assert_eq!(
        PaymentRef::parse("pay\u{0}ref"),
        Err(TextError::Control { code: 0, at: 4 })
    );
    assert_eq!(
        PaymentRef::parse("pay\u{0}ref").unwrap_err().to_string(),
        "must not contain control characters (U+0000 at character 4)"
    );
    assert!(EventName::parse("bad\u{0}name").is_err());
}

#[test]
fn single_line_fields_refuse_tab_and_newline() {
    for s in ["a\tb", "a\nb", "a\rb", "a\u{2028}b"] {
        for (name, parse) in ALL {
            assert!(parse(s).is_err(), "{name} accepted {s:?}");
        }
    }
}

#[test]
fn right_to_left_text_and_emoji_are_names() {
    for s in [
        "קונצרט חורף",
        "حفلة الشتاء",
        "Winter 🎄 Concert",
        "\u{200F}שלום",
        "Zoë",
    ] {
        assert!(EventName::parse(s).is_ok(), "{s}");
        assert!(VenueName::parse(s).is_ok(), "{s}");
        assert!(PaymentRef::parse(s).is_ok(), "{s}");
        assert!(UserRef::parse(s).is_ok(), "{s}");
    }
    assert!(EventName::parse("evil\u{202E}txt.exe").is_err());
    assert!(SectionName::parse("Ä").is_err());
    assert!(SeatId::parse("🎄-1-1").is_err());
}

#[test]
fn limits_are_counted_in_characters() {
    let emoji200 = "🎄".repeat(200);
    assert_eq!(emoji200.len(), 800);
    assert!(EventName::parse(emoji200.as_str()).is_ok());
    assert_eq!(
        EventName::parse(format!("{emoji200}x")),
        Err(TextError::TooLong { max: 200 })
    );
    assert!(PaymentRef::parse("x".repeat(200)).is_ok());
    assert!(PaymentRef::parse("x".repeat(201)).is_err());
    assert!(UserRef::parse("é".repeat(256)).is_ok());
    assert!(UserRef::parse("é".repeat(257)).is_err());
    assert!(IdempotencyKey::parse("k".repeat(255)).is_ok());
    assert!(IdempotencyKey::parse("k".repeat(256)).is_err());
    assert!(SectionName::parse("S".repeat(16)).is_ok());
    assert!(SectionName::parse("S".repeat(17)).is_err());
}

#[test]
fn blank_and_empty() {
    assert_eq!(EventName::parse(""), Err(TextError::Empty));
    assert_eq!(EventName::parse("  "), Err(TextError::Blank));
    assert_eq!(PaymentRef::parse(" "), Err(TextError::Blank));
    assert_eq!(IdempotencyKey::parse(""), Err(TextError::Empty));
}

#[test]
fn section_names_and_seat_ids_keep_their_alphabet() {
    assert!(SectionName::parse("VIP_1").is_ok());
    assert!(SectionName::parse("A-B").is_err());
    assert!(SectionName::parse("A B").is_err());
    assert!(SeatId::parse("VIP_1-10-12").is_ok());
    assert!(
        SeatId::parse("A,1-1").is_err(),
        "',' splits stored seat lists"
    );
    assert!(SeatId::parse("A-1-1 ").is_err());
}

#[test]
fn time_zones_are_checked_against_the_tz_database() {
    assert!(TimeZoneName::parse("Asia/Seoul").is_ok());
    assert!(TimeZoneName::parse("UTC").is_ok());
    assert!(TimeZoneName::parse("America/Argentina/Buenos_Aires").is_ok());
    assert_eq!(
        TimeZoneName::parse("Mars/Olympus_Mons"),
        Err(TextError::UnknownTimeZone)
    );
    assert!(TimeZoneName::parse("Asia/Seoul\u{0}").is_err());
}

#[test]
fn json_decoding_refuses_what_parse_refuses() {
    let bad: Result<PaymentRef, _> = serde_json::from_str(r#""pay\u0000ref""#);
    assert!(bad
        .unwrap_err()
        .to_string()
        .starts_with("must not contain control characters"));
    let lone: Result<PaymentRef, _> = serde_json::from_str(r#""pay\ud800ref""#);
    assert!(lone.is_err(), "a lone surrogate never becomes a String");
    let ok: PaymentRef = serde_json::from_str(r#""pay\ud83c\udf84ref""#).unwrap();
    assert_eq!(ok, "pay🎄ref");
    assert_eq!(serde_json::to_string(&ok).unwrap(), "\"pay🎄ref\"");
}

proptest! {
    #[test]
    fn any_refused_character_is_refused_everywhere(
        before in "\\PC{0,10}",
        bad in refused_chars(),
        after in "\\PC{0,10}",
    ) {
        let s = format!("{before}{bad}{after}");
        for (name, parse) in ALL {
            prop_assert!(parse(&s).is_err(), "{} accepted {:?}", name, s);
        }
    }

    #[test]
    fn printable_text_round_trips(s in "[^\\p{Cc}\\u{2028}\\u{2029}\\u{202A}-\\u{202E}\\u{2066}-\\u{2069}]{1,200}") {
        prop_assume!(!s.trim().is_empty());
        for (name, parse) in FREE_TEXT {
            prop_assert!(parse(&s).is_ok(), "{} refused {:?}", name, s);
        }
        let name = EventName::parse(s.as_str()).unwrap();
        let json = serde_json::to_string(&name).unwrap();
        let back: EventName = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.as_str(), s.as_str());
    }

    #[test]
    fn over_long_values_are_refused(n in 201usize..600, c in "[\\pL\\pN\\pS]") {
        let s = c.repeat(n);
        prop_assume!(s.chars().count() > 200);
        prop_assert_eq!(EventName::parse(s.as_str()), Err(TextError::TooLong { max: 200 }));
        prop_assert!(PaymentRef::parse(s.as_str()).is_err());
    }

    #[test]
    fn seat_ids_of_the_grammar_parse(section in "[A-Za-z0-9_]{1,16}", row in 1u32..10_000, n in 1u32..10_000) {
        let id = format!("{section}-{row}-{n}");
        let seat = SeatId::parse(id.as_str()).unwrap();
        prop_assert_eq!(seat.as_str(), id.as_str());
        prop_assert!(SectionName::parse(section.as_str()).is_ok());
    }
}

#[test]
fn cookie_domains_are_domain_names() {
    for ok in [
        "example.com",
        ".example.com",
        "shop-1.example.co.kr",
        "localhost",
    ] {
        assert!(CookieDomain::parse(ok).is_ok(), "{ok}");
    }
    let long_label = format!("{}.com", "a".repeat(64));
    let too_long = format!("{}.com", ["abc"; 63].join("."));
    for bad in [
        "",
        "exa mple.com",
        "example.com/",
        "https://example.com",
        "example..com",
        "-example.com",
        "example-.com",
        "..example.com",
        "example.com:443",
        "ex_ample.com",
        "例え.jp",
        long_label.as_str(),
        too_long.as_str(),
    ] {
        assert!(CookieDomain::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn gate_urls_follow_the_checkout_rule() {
    for ok in [
        "https://shop.example.com/tickets?x=1",
        "http://127.0.0.1:8080/shop",
        "http://localhost/shop",
    ] {
        assert!(GateUrl::parse(ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://shop.example.com/",
        "/relative",
        "https://user:pw@shop.example.com/",
        "https://shop.example.com/#frag",
        "javascript:alert(1)",
    ] {
        assert!(GateUrl::parse(bad).is_err(), "{bad}");
    }
}
