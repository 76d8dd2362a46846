//! Gate mode's check refusing what is not a good pass (missing, expired, forged,
//! another event's) with the queue page to send the fan to, built from `public_url`,
//! and refusing a proxy's configuration mistakes (no event, unknown event, no gate).

use crate::gate::gated_spec;
use crate::helpers::tokens::{eddsa, eddsa_with_kid, kid, now};
use crate::helpers::{open_event_spec, spawn_app_with};
use protocol::claims::{PassClaims, TokenKind};
use protocol::ids::{EventId, TicketId};

#[tokio::test]
async fn the_check_refuses_bad_passes_and_names_the_queue_page() {
    let app = spawn_app_with(|s| s.public_url = "https://queue.example.com/".into()).await;
    let event = app.create_event(&gated_spec()).await;
    let other = app.create_event(&gated_spec()).await;
    let fan = app.admitted_fan(&other).await;
    let (e, base) = (event.to_string(), app.address.clone());
    let claims = |exp: i64| PassClaims {
        sub: TicketId::new(),
        aud: e.clone(),
        jti: "j".into(),
        iat: now() - 700,
        exp,
        kind: TokenKind::Pass,
        user_ref: None,
    };
    let expired = eddsa(&app.pass_seed, &claims(now() - 1));
    let forged = eddsa_with_kid(&[7u8; 32], &kid(&app.pass_seed), &claims(now() + 600));
    let shop = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "shop.example.com"),
    ];
    let page = format!("https://queue.example.com/e/{e}");
    for (what, pass) in [
        ("none", None),
        ("expired", Some(&expired)),
        ("forged", Some(&forged)),
        ("other event", Some(&fan.pass)),
    ] {
        let bearer = pass.map(|p| format!("Bearer {p}"));
        let mut h = vec![
            ("x-anteroom-event", e.as_str()),
            ("x-original-uri", "/tickets/cart?anteroom_pass=old&x=1"),
        ];
        h.extend(shop);
        if let Some(b) = &bearer {
            h.push(("authorization", b));
        }
        let r = app.gate_check(&base, "", &h).await;
        r.assert_error(401, "unauthorized");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
        assert_eq!(
            r.header("x-anteroom-redirect"),
            Some(&*format!(
                "{page}?return=https%3A%2F%2Fshop.example.com%2Ftickets%2Fcart%3Fx%3D1"
            )),
            "{what}"
        );
    }
    // Asked for with redirect=1 (Traefik, Envoy), the refusal is a 302 to the same page.
    let r = crate::gate::no_redirects()
        .get(format!("{base}/v1/gate/check?redirect=1"))
        .header("x-anteroom-event", &e)
        .header("x-forwarded-host", "shop.example.com")
        .header("x-forwarded-proto", "https")
        .header("x-original-uri", "/tickets")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let redirect = r.headers()["x-anteroom-redirect"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        redirect,
        format!("{page}?return=https%3A%2F%2Fshop.example.com%2Ftickets")
    );
    assert_eq!(r.headers()["location"].to_str().unwrap(), redirect);
    // An original URL on another origin is not put in return.
    let r = app
        .gate_check(
            &base,
            "",
            &[
                ("x-anteroom-event", &e),
                ("x-forwarded-host", "evil.example.net"),
                ("x-original-uri", "/x"),
            ],
        )
        .await;
    assert_eq!(r.header("x-anteroom-redirect"), Some(page.as_str()));

    app.gate_check(&base, "", &[])
        .await
        .assert_error(400, "invalid_field");
    app.gate_check(&base, "?event=nope", &[])
        .await
        .assert_error(400, "invalid_field");
    let unknown = EventId::new().to_string();
    app.gate_check(&base, "", &[("x-anteroom-event", &unknown)])
        .await
        .assert_error(404, "not_found");
    let plain = app.create_event(&open_event_spec(1, 1)).await.to_string();
    app.gate_check(&base, "", &[("x-anteroom-event", &plain)])
        .await
        .assert_error(404, "not_found");
}
