//! The pre-queue lottery, pure: order, commitment and verification (`docs/LOTTERY.md`).
//!
//! Order: sort the pre-queue's tickets by `SHA-256(seed ‖ ticket UUID bytes)` ascending
//! (ties, which need a SHA-256 collision, by ticket id), where `seed` is the 32 raw bytes
//! of the event's `shuffle_seed` and `shuffle_commitment = hex(SHA-256(seed))`. Sorting
//! by keys drawn independently and uniformly (a random oracle keyed by the seed) yields
//! every permutation with the same probability, and the input order does not matter.
//! The statistical test is in this module's tests (chi-square over 24 000 seeds).

use protocol::ids::TicketId;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The pre-queue's tickets in lottery order for `seed`.
pub fn lottery_order(seed: &[u8], tickets: &[TicketId]) -> Vec<TicketId> {
    let mut keyed: Vec<([u8; 32], TicketId)> = tickets
        .iter()
        .map(|t| {
            let mut h = Sha256::new();
            h.update(seed);
            h.update(t.0.as_bytes());
            (h.finalize().into(), *t)
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, t)| t).collect()
}

/// Hex SHA-256 of `seed`: the commitment published before the pre-queue opens.
pub fn commitment(seed: &[u8]) -> String {
    hex::encode(Sha256::digest(seed))
}

/// Why a lottery does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The seed is not valid hex.
    #[error("the seed is not hex")]
    SeedNotHex,
    /// SHA-256 of the seed is not the published commitment.
    #[error("SHA-256 of the seed is {actual}, not the commitment {expected}")]
    CommitmentMismatch {
        /// The published commitment.
        expected: String,
        /// SHA-256 of the given seed.
        actual: String,
    },
    /// A ticket is listed twice.
    #[error("ticket {0} is listed twice")]
    Duplicate(TicketId),
    /// The recomputed order differs from the published one.
    #[error("the order differs from the published one at rank {rank}: expected {expected}, published {published}")]
    OrderMismatch {
        /// First differing rank, from 1.
        rank: usize,
        /// Recomputed ticket at that rank (`-` if the list is shorter).
        expected: String,
        /// Published ticket at that rank (`-` if the list is shorter).
        published: String,
    },
}

/// Checks `seed_hex` against `commitment_hex`, recomputes the order of `tickets` and, if
/// given, compares it with the `published` order. Returns the recomputed order.
///
/// # Errors
/// [`VerifyError`]: bad seed, commitment mismatch, duplicate ticket, other order.
pub fn verify(
    seed_hex: &str,
    commitment_hex: &str,
    tickets: &[TicketId],
    published: Option<&[TicketId]>,
) -> Result<Vec<TicketId>, VerifyError> {
    let seed = hex::decode(seed_hex.trim()).map_err(|_| VerifyError::SeedNotHex)?;
    let actual = commitment(&seed);
    let expected = commitment_hex.trim().to_ascii_lowercase();
    if actual != expected {
        return Err(VerifyError::CommitmentMismatch { expected, actual });
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = tickets.iter().find(|t| !seen.insert(**t)) {
        return Err(VerifyError::Duplicate(*dup));
    }
    let order = lottery_order(&seed, tickets);
    if let Some(published) = published {
        let show = |t: Option<&TicketId>| t.map_or_else(|| "-".to_string(), ToString::to_string);
        let len = order.len().max(published.len());
        if let Some(i) = (0..len).find(|&i| order.get(i) != published.get(i)) {
            return Err(VerifyError::OrderMismatch {
                rank: i + 1,
                expected: show(order.get(i)),
                published: show(published.get(i)),
            });
        }
    }
    Ok(order)
}

/// A finished lottery as recorded in Redis: who took part and the order applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lottery {
    /// The frozen pre-queue in arrival order.
    pub tickets: Vec<TicketId>,
    /// The order applied (rank 1 first).
    pub order: Vec<TicketId>,
    ranks: HashMap<TicketId, u64>,
}

impl Lottery {
    /// A lottery from its record.
    pub fn new(tickets: Vec<TicketId>, order: Vec<TicketId>) -> Self {
        let ranks = order.iter().zip(1u64..).map(|(t, r)| (*t, r)).collect();
        Self {
            tickets,
            order,
            ranks,
        }
    }

    /// The rank (from 1) of `ticket`, if it took part.
    pub fn rank(&self, ticket: &TicketId) -> Option<u64> {
        self.ranks.get(ticket).copied()
    }
}

pub mod files;
#[cfg(test)]
mod tests;
