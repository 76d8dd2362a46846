use super::*;
use crate::event::tests::spec;

fn patch(json: &str) -> EventPatch {
    serde_json::from_str(json).unwrap()
}

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

#[test]
fn one_admission_field_alone_is_a_whole_patch() {
    let p = patch(r#"{"admission": {"rate_per_minute": 60000}}"#);
    assert_eq!(p.validate(), Ok(()));
    let merged = p.merged(&spec());
    // Expected values written out, not derived from the code under test.
    assert_eq!(merged.admission.rate_per_minute, 60000);
    assert_eq!(merged.admission.max_active, 2000);
    assert_eq!(merged.admission.pass_ttl_seconds, 600);
    let mut rest = merged.clone();
    rest.admission = spec().admission;
    assert_eq!(rest, spec(), "nothing else moves");
}

#[test]
fn every_field_merges_and_absent_ones_keep_their_value() {
    let p = patch(
        r#"{"admission": {"max_active": 5, "pass_ttl_seconds": 30}, "hold_ttl_seconds": 60,
            "require_identity": true, "checkout": {"mode": "origin", "url": "https://pay.example/x"},
            "opens_at": "2026-12-02T20:00:00+09:00", "prequeue_opens_at": "2026-12-02T19:00:00+09:00",
            "currency": "KRW"}"#,
    );
    assert_eq!(p.validate(), Ok(()));
    let m = p.merged(&spec());
    assert_eq!(
        (
            m.admission.rate_per_minute,
            m.admission.max_active,
            m.admission.pass_ttl_seconds
        ),
        (600, 5, 30)
    );
    assert_eq!(m.hold_ttl_seconds, 60);
    assert!(m.require_identity);
    assert_eq!(m.checkout.mode, CheckoutMode::Origin);
    assert_eq!(
        m.checkout.url.as_ref().map(|u| u.as_str()),
        Some("https://pay.example/x")
    );
    assert_eq!(m.opens_at, at("2026-12-02T20:00:00+09:00"));
    assert_eq!(m.prequeue_opens_at, Some(at("2026-12-02T19:00:00+09:00")));
    assert_eq!(m.currency.as_str(), "KRW");
    assert_eq!(m.validate(), Ok(()));
}

#[test]
fn merged_result_is_validated_as_a_whole() {
    // Origin mode without a url: the patch is fine alone, the merged spec is not.
    let p = patch(r#"{"checkout": {"mode": "origin"}}"#);
    assert_eq!(p.validate(), Ok(()));
    let errors = p.merged(&spec()).validate().unwrap_err();
    assert_eq!(errors[0].field, "checkout.url");
    // Opening moved before the pre-queue that stays.
    let p = patch(r#"{"opens_at": "2026-12-01T19:00:00+09:00"}"#);
    let errors = p.merged(&spec()).validate().unwrap_err();
    assert_eq!(errors[0].field, "prequeue_opens_at");
}

#[test]
fn bad_ranges_and_empty_parts_are_refused() {
    let fields = |json: &str| -> Vec<String> {
        patch(json)
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    };
    assert_eq!(
        fields(r#"{"admission": {"rate_per_minute": 0, "pass_ttl_seconds": 5}}"#),
        ["admission.rate_per_minute", "admission.pass_ttl_seconds"]
    );
    assert_eq!(fields(r#"{"admission": {}}"#), ["admission"]);
    assert_eq!(fields(r#"{"checkout": {}}"#), ["checkout"]);
    assert_eq!(fields("{}"), [""]);
    assert_eq!(
        fields(
            r#"{"opens_at": "2026-12-02T20:00:00Z", "prequeue_opens_at": "2026-12-02T20:00:00Z"}"#
        ),
        ["prequeue_opens_at"]
    );
    assert!(serde_json::from_str::<EventPatch>(r#"{"admission": {"rate": 1}}"#).is_err());
    assert!(serde_json::from_str::<EventPatch>(r#"{"currency": "XYZ"}"#).is_err());
}

#[test]
fn postponement_follows_the_clock() {
    let s = spec(); // pre-queue 19:30, opens 20:00 (+09:00) on 2026-12-01
    let utc = |x: &str| at(x).with_timezone(&Utc);
    let fields = |json: &str, now: &str| -> Vec<String> {
        patch(json)
            .check_schedule(&s, utc(now))
            .into_iter()
            .map(|e| e.field)
            .collect()
    };
    let later = r#"{"opens_at": "2026-12-02T20:00:00+09:00", "prequeue_opens_at": "2026-12-02T19:30:00+09:00"}"#;
    assert!(fields(later, "2026-12-01T19:00:00+09:00").is_empty());
    // The pre-queue has opened: it cannot move, the opening still can.
    assert_eq!(
        fields(later, "2026-12-01T19:45:00+09:00"),
        ["prequeue_opens_at"]
    );
    assert!(fields(
        r#"{"opens_at": "2026-12-02T20:00:00+09:00"}"#,
        "2026-12-01T19:45:00+09:00"
    )
    .is_empty());
    // Less than the notice before the opening.
    assert_eq!(
        fields(
            r#"{"opens_at": "2026-12-02T20:00:00+09:00"}"#,
            "2026-12-01T19:59:55+09:00"
        ),
        ["opens_at"]
    );
    // New time in the past.
    assert_eq!(
        fields(
            r#"{"opens_at": "2026-12-01T18:00:00+09:00"}"#,
            "2026-12-01T18:30:00+09:00"
        ),
        ["opens_at"]
    );
    // Unchanged times pass even once passed (a retried PATCH).
    assert!(fields(
        r#"{"opens_at": "2026-12-01T11:00:00Z"}"#,
        "2026-12-01T21:00:00+09:00"
    )
    .is_empty());
    // No pre-queue to move.
    let mut without = s.clone();
    without.prequeue_opens_at = None;
    let errors = patch(r#"{"prequeue_opens_at": "2026-12-01T19:50:00+09:00"}"#)
        .check_schedule(&without, utc("2026-12-01T19:00:00+09:00"));
    assert_eq!(errors[0].field, "prequeue_opens_at");
}

#[test]
fn archived_is_closed_for_good() {
    assert!(AdminState::Archived.is_closed());
    assert!(AdminState::Closed.is_closed());
    assert!(!AdminState::Paused.is_closed());
    let p = patch(r#"{"state": "archived"}"#);
    assert_eq!(p.state, Some(AdminState::Archived));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn admission_patch() -> impl Strategy<Value = AdmissionPatch> {
        (
            proptest::option::of(1u32..=1_000_000),
            proptest::option::of(1u32..=100_000),
            proptest::option::of(30u32..=86_400),
        )
            .prop_map(
                |(rate_per_minute, max_active, pass_ttl_seconds)| AdmissionPatch {
                    rate_per_minute,
                    max_active,
                    pass_ttl_seconds,
                },
            )
    }

    proptest! {
        /// Any subset of valid admission fields: the ones given take their new value,
        /// the others keep the event's, nothing else in the spec moves, and a valid
        /// event stays valid.
        #[test]
        fn any_subset_of_admission_fields_merges(
            a in admission_patch(),
            hold_ttl in proptest::option::of(10u32..=3600),
        ) {
            let p = EventPatch {
                admission: Some(a.clone()),
                hold_ttl_seconds: hold_ttl,
                ..EventPatch::default()
            };
            let before = spec();
            let empty = a == AdmissionPatch::default();
            prop_assert_eq!(p.validate().is_ok(), !empty);
            let m = p.merged(&before);
            let was = &before.admission;
            prop_assert_eq!(m.admission.rate_per_minute, a.rate_per_minute.unwrap_or(was.rate_per_minute));
            prop_assert_eq!(m.admission.max_active, a.max_active.unwrap_or(was.max_active));
            prop_assert_eq!(m.admission.pass_ttl_seconds, a.pass_ttl_seconds.unwrap_or(was.pass_ttl_seconds));
            prop_assert_eq!(m.hold_ttl_seconds, hold_ttl.unwrap_or(before.hold_ttl_seconds));
            let mut rest = m.clone();
            rest.admission = before.admission.clone();
            rest.hold_ttl_seconds = before.hold_ttl_seconds;
            prop_assert_eq!(&rest, &before);
            prop_assert_eq!(m.validate(), Ok(()));
        }

        /// A time given unchanged never blocks a patch, whatever the clock says.
        #[test]
        fn unchanged_times_always_pass(offset_minutes in -100_000i64..100_000) {
            let s = spec();
            let p = EventPatch {
                opens_at: Some(s.opens_at),
                prequeue_opens_at: s.prequeue_opens_at,
                ..EventPatch::default()
            };
            let now = s.opens_at.with_timezone(&Utc) + Duration::minutes(offset_minutes);
            prop_assert!(p.check_schedule(&s, now).is_empty());
        }
    }
}

#[test]
fn a_gate_is_replaced_whole_and_null_removes_it() {
    let set = patch(
        r#"{"gate": {"target_url": "https://shop.example.com/t?x=1", "cookie_domain": "example.com"}}"#,
    );
    assert_eq!(set.validate(), Ok(()));
    let gated = set.merged(&spec());
    let gate = gated.gate.clone().expect("a gate");
    assert_eq!(gate.target_url.as_str(), "https://shop.example.com/t?x=1");
    assert_eq!(
        gate.cookie_domain.as_ref().map(|d| d.as_str()),
        Some("example.com")
    );
    assert_eq!(gated.validate(), Ok(()));
    // A new gate without cookie_domain replaces the whole object: the domain goes too.
    let replaced =
        patch(r#"{"gate": {"target_url": "https://other.example.org/"}}"#).merged(&gated);
    let gate = replaced.gate.clone().expect("a gate");
    assert_eq!(gate.target_url.as_str(), "https://other.example.org/");
    assert_eq!(gate.cookie_domain, None);
    // Absent keeps it; null removes it.
    let kept = patch(r#"{"hold_ttl_seconds": 60}"#).merged(&replaced);
    assert_eq!(kept.gate, replaced.gate);
    let removed = patch(r#"{"gate": null}"#);
    assert_eq!(removed.validate(), Ok(()), "null alone is a change");
    assert_eq!(removed.merged(&replaced).gate, None);
}

#[test]
fn a_bad_gate_does_not_decode() {
    for bad in [
        r#"{"gate": {"target_url": "http://shop.example.com/"}}"#,
        r#"{"gate": {"target_url": "https://shop.example.com/", "cookie_domain": "exa mple.com"}}"#,
        r#"{"gate": {"cookie_domain": "example.com"}}"#,
        r#"{"gate": {"target_url": "https://shop.example.com/", "extra": 1}}"#,
        r#"{"gate": "https://shop.example.com/"}"#,
    ] {
        assert!(serde_json::from_str::<EventPatch>(bad).is_err(), "{bad}");
    }
}
