//! The lottery is a deterministic, verifiable and uniform permutation.
//!
//! Uniformity: Pearson's chi-square over many seeds (derived from a counter, so the test
//! is deterministic), at significance 0.001. Critical values of the chi-square
//! distribution: 49.728 for 23 degrees of freedom, 85.351 for 49.

use super::*;

fn seed(i: u64) -> [u8; 32] {
    Sha256::digest(format!("anteroom lottery test seed {i}")).into()
}

fn tickets(n: u128) -> Vec<TicketId> {
    (1..=n)
        .map(|i| TicketId(uuid::Uuid::from_u128(i)))
        .collect()
}

/// Index of a permutation of `0..n` (Lehmer code), in `0..n!`.
fn permutation_index(perm: &[usize]) -> usize {
    let mut index = 0;
    for (i, p) in perm.iter().enumerate() {
        let smaller_after = perm[i + 1..].iter().filter(|q| *q < p).count();
        index = index * (perm.len() - i) + smaller_after;
    }
    index
}

fn chi_square(observed: &[u64], expected: f64) -> f64 {
    observed
        .iter()
        .map(|&o| (o as f64 - expected).powi(2) / expected)
        .sum()
}

#[test]
fn lottery_is_a_deterministic_permutation() {
    let tickets: Vec<TicketId> = (0..50).map(|_| TicketId::new()).collect();
    let a = lottery_order(&[1; 32], &tickets);
    assert_eq!(a, lottery_order(&[1; 32], &tickets));
    let mut reversed = tickets.clone();
    reversed.reverse();
    assert_eq!(
        a,
        lottery_order(&[1; 32], &reversed),
        "input order is irrelevant"
    );
    let mut sorted_a = a.clone();
    sorted_a.sort();
    let mut sorted_t = tickets.clone();
    sorted_t.sort();
    assert_eq!(sorted_a, sorted_t);
    assert_ne!(a, lottery_order(&[2; 32], &tickets), "the seed decides");
    assert_ne!(a, tickets, "not arrival order (50! to 1)");
}

#[test]
fn all_24_orders_of_4_tickets_are_equally_likely() {
    let t = tickets(4);
    let trials = 24_000u64;
    let mut counts = [0u64; 24];
    for i in 0..trials {
        let order = lottery_order(&seed(i), &t);
        let perm: Vec<usize> = order
            .iter()
            .map(|x| t.iter().position(|y| y == x).unwrap())
            .collect();
        counts[permutation_index(&perm)] += 1;
    }
    let stat = chi_square(&counts, trials as f64 / 24.0);
    assert!(stat < 49.728, "chi-square {stat:.2} over 23 df: {counts:?}");
    assert!(counts.iter().all(|&c| c > 0));
}

#[test]
fn every_ticket_is_equally_likely_at_every_rank() {
    let t = tickets(8);
    let trials = 16_000u64;
    let mut counts = vec![vec![0u64; 8]; 8];
    for i in 0..trials {
        for (rank, x) in lottery_order(&seed(1_000_000 + i), &t).iter().enumerate() {
            counts[t.iter().position(|y| y == x).unwrap()][rank] += 1;
        }
    }
    let flat: Vec<u64> = counts.concat();
    let stat = chi_square(&flat, trials as f64 / 8.0);
    // An 8×8 table with fixed margins: (8 - 1)² = 49 degrees of freedom.
    assert!(stat < 85.351, "chi-square {stat:.2} over 49 df: {counts:?}");
}

#[test]
fn a_chi_square_this_size_does_catch_a_biased_shuffle() {
    // The same test on arrival order with one swap in ten: rejected by far.
    let t = tickets(4);
    let mut counts = [0u64; 24];
    for i in 0..24_000u64 {
        let mut perm = vec![0, 1, 2, 3];
        if i % 10 == 0 {
            perm.swap(0, 1);
        }
        counts[permutation_index(&perm)] += 1;
    }
    assert!(chi_square(&counts, 1000.0) > 49.728);
    assert_eq!(t.len(), 4);
}

#[test]
fn verification_accepts_the_record_and_rejects_tampering() {
    let s = seed(7);
    let seed_hex = hex::encode(s);
    let commit = commitment(&s);
    let t = tickets(20);
    let published = lottery_order(&s, &t);
    assert_eq!(
        verify(&seed_hex, &commit, &t, Some(&published)).unwrap(),
        published
    );
    // Upper-case hex and surrounding blanks are fine.
    assert!(verify(
        &format!(" {} ", seed_hex.to_uppercase()),
        &commit.to_uppercase(),
        &t,
        None
    )
    .is_ok());

    // Another seed: the commitment does not match.
    let other = hex::encode(seed(8));
    assert!(matches!(
        verify(&other, &commit, &t, Some(&published)),
        Err(VerifyError::CommitmentMismatch { .. })
    ));
    // One bit flipped in the seed.
    let mut flipped = s;
    flipped[31] ^= 1;
    assert!(matches!(
        verify(&hex::encode(flipped), &commit, &t, None),
        Err(VerifyError::CommitmentMismatch { .. })
    ));
    assert_eq!(
        verify("zz", &commit, &t, None),
        Err(VerifyError::SeedNotHex)
    );

    // The list: a ticket dropped, one added, one replaced, one duplicated.
    let dropped: Vec<_> = t[1..].to_vec();
    let mut added = t.clone();
    added.push(TicketId(uuid::Uuid::from_u128(99)));
    let mut replaced = t.clone();
    replaced[3] = TicketId(uuid::Uuid::from_u128(98));
    for list in [dropped, added, replaced] {
        assert!(matches!(
            verify(&seed_hex, &commit, &list, Some(&published)),
            Err(VerifyError::OrderMismatch { .. })
        ));
    }
    let mut doubled = t.clone();
    doubled.push(t[0]);
    assert_eq!(
        verify(&seed_hex, &commit, &doubled, None),
        Err(VerifyError::Duplicate(t[0]))
    );
    // A published order with two places swapped.
    let mut swapped = published.clone();
    swapped.swap(4, 5);
    assert_eq!(
        verify(&seed_hex, &commit, &t, Some(&swapped)),
        Err(VerifyError::OrderMismatch {
            rank: 5,
            expected: published[4].to_string(),
            published: published[5].to_string(),
        })
    );
}

#[test]
fn ranks_follow_the_order() {
    let t = tickets(5);
    let order = lottery_order(&seed(1), &t);
    let l = Lottery::new(t.clone(), order.clone());
    assert_eq!(l.rank(&order[0]), Some(1));
    assert_eq!(l.rank(&order[4]), Some(5));
    assert_eq!(l.rank(&TicketId(uuid::Uuid::from_u128(77))), None);
}

/// The order and commitment equal those of an independent implementation of
/// docs/LOTTERY.md (`deploy/oracles/lottery.py`, Python), whose output is committed as
/// `gateway/tests/data/lottery_vectors.json`; `deploy/check.sh` fails if the script no
/// longer produces that file.
#[test]
fn lottery_order_matches_the_published_vectors() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/lottery_vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("the lottery vectors file");
    let file: serde_json::Value = serde_json::from_str(&text).expect("lottery vectors JSON");
    let ids = |v: &serde_json::Value| -> Vec<TicketId> {
        v.as_array()
            .expect("an array of ticket ids")
            .iter()
            .map(|t| t.as_str().expect("a ticket id").parse().expect("a UUID"))
            .collect()
    };
    let vectors = file["vectors"].as_array().expect("`vectors`");
    assert!(vectors.len() >= 10, "only {} vectors", vectors.len());
    for v in vectors {
        let name = v["name"].as_str().expect("`name`");
        let seed_hex = v["seed"].as_str().expect("`seed`");
        let seed = hex::decode(seed_hex).expect("hex seed");
        let (tickets, order) = (ids(&v["tickets"]), ids(&v["order"]));
        assert_eq!(commitment(&seed), v["commitment"], "commitment of {name}");
        assert_eq!(lottery_order(&seed, &tickets), order, "order of {name}");
        let canonical: Vec<String> = order.iter().map(ToString::to_string).collect();
        assert_eq!(
            serde_json::json!(canonical),
            v["order"],
            "{name}: ids as lowercase hyphenated text"
        );
        let mut seen = std::collections::HashSet::new();
        if tickets.iter().all(|t| seen.insert(*t)) {
            let verified = verify(seed_hex, &commitment(&seed), &tickets, Some(&order));
            assert_eq!(verified, Ok(order), "verify-shuffle of {name}");
        }
    }
}
