//! Shard routing: which worker shard owns an event.
//!
//! `shard_of` is FNV-1a (64-bit, offset basis `0xcbf29ce484222325`, prime
//! `0x100000001b3`, from Fowler–Noll–Vo, IETF draft-eastlake-fnv) over the 16 raw bytes
//! of the event UUID, reduced modulo the shard count. It must never change once
//! deployed: the test vectors below pin it.

use crate::ids::EventId;

/// Default number of shards per deployment (the `shards` setting of both binaries, default 16).
pub const DEFAULT_SHARDS: u16 = 16;

/// FNV-1a 64-bit hash of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The shard (in `0..shards`) that owns `event_id`.
///
/// # Panics
/// Never for `shards >= 1`; `shards == 0` is rejected by configuration validation and
/// treated as 1 here so routing cannot panic.
pub fn shard_of(event_id: &EventId, shards: u16) -> u16 {
    let shards = u64::from(shards.max(1));
    (fnv1a64(event_id.0.as_bytes()) % shards) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn fnv1a64_matches_reference_vectors() {
        // Reference values from the FNV specification's test suite.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shard_of_test_vectors() {
        // Computed by an independent implementation (Python, over uuid.UUID(..).bytes).
        let cases = [
            ("00000000-0000-0000-0000-000000000000", 16, 5),
            ("ffffffff-ffff-ffff-ffff-ffffffffffff", 16, 5),
            ("0190f5a2-7b1c-7cc3-9a4e-2f1d3b5c6e7f", 16, 13),
            ("0190f5a2-7b1c-7cc3-9a4e-2f1d3b5c6e7f", 4, 1),
            ("123e4567-e89b-12d3-a456-426614174000", 16, 0),
        ];
        for (uuid, shards, want) in cases {
            let id = EventId::from_str(uuid).unwrap();
            assert_eq!(shard_of(&id, shards), want, "{uuid} over {shards} shards");
        }
    }

    #[test]
    fn zero_shards_routes_to_shard_zero() {
        assert_eq!(shard_of(&EventId::new(), 0), 0);
    }

    proptest::proptest! {
        #[test]
        fn shard_is_in_range_and_stable(bytes in proptest::array::uniform16(0u8..), shards in 1u16..512) {
            let id = EventId(uuid::Uuid::from_bytes(bytes));
            let s = shard_of(&id, shards);
            proptest::prop_assert!(s < shards);
            proptest::prop_assert_eq!(s, shard_of(&id, shards));
        }
    }
}
