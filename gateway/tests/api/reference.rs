//! `docs/API.md` against the served `/openapi.json`: the same operations (method and
//! path) and, for each, the same response status codes. The reference is written by
//! hand; this test is what keeps it true.
//!
//! The reference's parseable form: each operation is a heading
//! ``### `METHOD /path` `` followed, before the next heading, by one line
//! `Responses: 200, 401, 503` (the codes in any order).

use crate::helpers::spawn_app;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// An operation: upper-case method and path template, e.g. `("POST", "/v1/admin/events")`.
type Operation = (String, String);
/// Each operation with its documented or served response status codes.
type Contract = BTreeMap<Operation, BTreeSet<u16>>;

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

fn reference_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/API.md")
}

/// The operations of the Markdown reference, or every line it could not read.
fn parse_reference(text: &str) -> Result<Contract, Vec<String>> {
    let mut contract = Contract::new();
    let mut problems = Vec::new();
    let mut current: Option<(usize, Operation)> = None;
    // An operation whose `Responses:` line never came.
    let finish = |current: &mut Option<(usize, Operation)>, problems: &mut Vec<String>| {
        if let Some((line, (method, path))) = current.take() {
            problems.push(format!(
                "docs/API.md:{line}: `{method} {path}` has no `Responses:` line"
            ));
        }
    };
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.starts_with('#') {
            finish(&mut current, &mut problems);
            let Some(rest) = line.strip_prefix("### `") else {
                continue;
            };
            let Some(inner) = rest.strip_suffix('`') else {
                problems.push(format!(
                    "docs/API.md:{n}: heading not of the form ### `METHOD /path`: {line}"
                ));
                continue;
            };
            match inner.split_once(' ') {
                Some((method, path)) if METHODS.contains(&method) && path.starts_with('/') => {
                    let op = (method.to_owned(), path.to_owned());
                    if contract.contains_key(&op) {
                        problems.push(format!("docs/API.md:{n}: `{inner}` documented twice"));
                    }
                    current = Some((n, op));
                }
                _ => problems.push(format!(
                    "docs/API.md:{n}: heading not of the form ### `METHOD /path`: {line}"
                )),
            }
        } else if let Some(codes) = line.strip_prefix("Responses:") {
            let Some((_, op)) = current.take() else {
                problems.push(format!(
                    "docs/API.md:{n}: `Responses:` outside an operation"
                ));
                continue;
            };
            let mut set = BTreeSet::new();
            for code in codes.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                match code.parse::<u16>() {
                    Ok(c) if (100..600).contains(&c) => {
                        set.insert(c);
                    }
                    _ => problems.push(format!("docs/API.md:{n}: `{code}` is not a status code")),
                }
            }
            contract.insert(op, set);
        }
    }
    finish(&mut current, &mut problems);
    if problems.is_empty() {
        Ok(contract)
    } else {
        Err(problems)
    }
}

/// The operations of an OpenAPI 3 document with their response codes.
fn served_contract(doc: &Value) -> Contract {
    let mut contract = Contract::new();
    let paths = doc["paths"]
        .as_object()
        .expect("/openapi.json has no paths object");
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            let method = method.to_uppercase();
            if !METHODS.contains(&method.as_str()) {
                continue; // `parameters`, `summary`, … at the path level
            }
            let codes = op["responses"]
                .as_object()
                .map(|r| r.keys().filter_map(|k| k.parse::<u16>().ok()).collect())
                .unwrap_or_default();
            contract.insert((method, path.clone()), codes);
        }
    }
    contract
}

/// Every difference between the two, in words; empty when they agree.
fn differences(documented: &Contract, served: &Contract) -> Vec<String> {
    let fmt = |codes: &BTreeSet<u16>| {
        codes
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    for ((method, path), codes) in served {
        match documented.get(&(method.clone(), path.clone())) {
            None => out.push(format!(
                "served but not in docs/API.md: `{method} {path}` (Responses: {})",
                fmt(codes)
            )),
            Some(doc) if doc != codes => out.push(format!(
                "`{method} {path}`: docs/API.md lists {}, /openapi.json {} (only in the doc: [{}]; only served: [{}])",
                fmt(doc),
                fmt(codes),
                fmt(&doc.difference(codes).copied().collect()),
                fmt(&codes.difference(doc).copied().collect()),
            )),
            Some(_) => {}
        }
    }
    for (method, path) in documented.keys() {
        if !served.contains_key(&(method.clone(), path.clone())) {
            out.push(format!("in docs/API.md but not served: `{method} {path}`"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reference_matches_the_served_openapi_document() {
    let text = std::fs::read_to_string(reference_path())
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", reference_path().display()));
    let documented = parse_reference(&text).unwrap_or_else(|problems| {
        panic!("docs/API.md cannot be read:\n  {}", problems.join("\n  "))
    });

    let app = spawn_app().await;
    let resp = app.send(app.client.get(app.url("/openapi.json"))).await;
    resp.assert_status(200);
    let served = served_contract(&resp.body);
    assert!(!served.is_empty(), "/openapi.json lists no operations");

    let diff = differences(&documented, &served);
    assert!(
        diff.is_empty(),
        "docs/API.md and /openapi.json disagree ({} operations documented, {} served):\n  {}",
        documented.len(),
        served.len(),
        diff.join("\n  ")
    );
}

#[test]
fn the_reference_parser_reports_what_it_cannot_read() {
    let ok = "## Group\n\n### `GET /a/{id}`\n\nText.\n\nResponses: 200, 404\n\n### `DELETE /a/{id}`\nResponses: 204\n";
    let contract = parse_reference(ok).expect("a well-formed reference");
    assert_eq!(
        contract.get(&("GET".into(), "/a/{id}".into())),
        Some(&BTreeSet::from([200, 404]))
    );
    assert_eq!(contract.len(), 2);

    let missing = "### `GET /a`\n\nno codes\n\n### `FETCH /b`\nResponses: 200\n";
    // No codes for `GET /a`; a method that is not one; and so a `Responses:` line of no operation.
    let problems = parse_reference(missing).expect_err("three problems");
    assert_eq!(problems.len(), 3, "{problems:?}");

    let mut served = Contract::new();
    served.insert(
        ("GET".into(), "/a/{id}".into()),
        BTreeSet::from([200, 404, 503]),
    );
    served.insert(("GET".into(), "/b".into()), BTreeSet::from([200]));
    let diff = differences(&contract, &served);
    assert_eq!(diff.len(), 3, "{diff:#?}"); // codes of GET /a, GET /b missing, DELETE /a extra
}
