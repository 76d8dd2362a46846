#!/usr/bin/env python3
"""An independent implementation of the pre-queue lottery of docs/LOTTERY.md.

Written from the document alone (Python 3 standard library, no code shared with the
gateway), it computes the test vectors that the gateway's own lottery must reproduce
(`gateway/tests/data/lottery_vectors.json`, read by the Rust test
`lottery_order_matches_the_published_vectors`). If the two disagree, either the code or
the document is wrong.

The algorithm, as published:

    seed       = the event's `shuffle_seed`, hex-decoded to raw bytes (32 in practice)
    commitment = lowercase hex of SHA-256(seed)
    key(t)     = SHA-256(seed || the 16 bytes of ticket id t, big-endian as in its text)
    order      = tickets sorted by (key, ticket bytes), both compared as unsigned bytes,
                 ascending; rank 1 first

Usage:
    lottery.py                 print the vectors (JSON) on stdout
    lottery.py --write FILE    write them to FILE
    lottery.py --check FILE    exit 1 (with a diff) if FILE differs from the output
"""

import argparse
import difflib
import hashlib
import json
import sys
import uuid

ALGORITHM = (
    "order = tickets sorted by SHA-256(seed bytes || ticket UUID bytes), ascending, "
    "ties by ticket UUID bytes; shuffle_commitment = SHA-256(seed bytes)"
)


def commitment(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def sort_key(seed: bytes, ticket: str) -> tuple:
    raw = uuid.UUID(ticket).bytes
    return (hashlib.sha256(seed + raw).digest(), raw)


def lottery_order(seed: bytes, tickets: list) -> list:
    return [str(uuid.UUID(t)) for t in sorted(tickets, key=lambda t: sort_key(seed, t))]


# ---- the inputs: derived from labels, so the file can be regenerated bit for bit ----


def derived_seed(label: str) -> bytes:
    return hashlib.sha256(f"anteroom lottery vector seed {label}".encode()).digest()


def derived_ticket(label: str, i: int) -> str:
    """A UUIDv7-shaped id (version 7, RFC 4122 variant) from a label and an index."""
    text = f"anteroom lottery vector ticket {label} {i}"
    raw = bytearray(hashlib.sha256(text.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def tickets(label: str, n: int) -> list:
    return [derived_ticket(label, i) for i in range(n)]


def sequential(n: int) -> list:
    return [str(uuid.UUID(int=i)) for i in range(1, n + 1)]


NIL = str(uuid.UUID(int=0))
MAX = str(uuid.UUID(int=(1 << 128) - 1))


def cases() -> list:
    """(name, note, seed, tickets) of every vector."""
    ten = tickets("ten", 10)
    dup = tickets("duplicate", 4)
    return [
        ("empty", "no ticket: an empty order", derived_seed("empty"), []),
        ("one", "one ticket keeps rank 1", derived_seed("one"), tickets("one", 1)),
        ("two", "two tickets", derived_seed("two"), tickets("two", 2)),
        ("zero-seed", "32 zero bytes as the seed", bytes(32), tickets("zero-seed", 5)),
        ("ff-seed", "32 0xff bytes as the seed", b"\xff" * 32, ten),
        (
            "ff-seed-reversed",
            "the tickets of ff-seed in reverse input order: the same order",
            b"\xff" * 32,
            list(reversed(ten)),
        ),
        (
            "other-seed",
            "the tickets of ff-seed with another seed: another order",
            derived_seed("other-seed"),
            ten,
        ),
        (
            "empty-seed",
            "a 0-byte seed (what the gateway uses for an event missing its seed)",
            b"",
            tickets("empty-seed", 6),
        ),
        (
            "sequential",
            "ids 00000000-0000-0000-0000-000000000001 to ...0008",
            derived_seed("sequential"),
            sequential(8),
        ),
        (
            "nil-and-max",
            "the nil and the all-ones UUID among others",
            derived_seed("nil-and-max"),
            [MAX] + tickets("nil-and-max", 3) + [NIL],
        ),
        (
            "upper-case",
            "ids given in upper case: the key uses the 16 bytes, not the text",
            derived_seed("upper-case"),
            [t.upper() for t in tickets("upper-case", 4)],
        ),
        (
            "tie",
            "a ticket listed twice has two identical keys (the only tie short of a "
            "SHA-256 collision): both copies stay, next to each other",
            derived_seed("tie"),
            dup + [dup[1]],
        ),
        ("hundred", "100 tickets", derived_seed("hundred"), tickets("hundred", 100)),
    ]


def vectors() -> dict:
    out = []
    for name, note, seed, ts in cases():
        out.append(
            {
                "name": name,
                "note": note,
                "seed": seed.hex(),
                "commitment": commitment(seed),
                "tickets": ts,
                "order": lottery_order(seed, ts),
            }
        )
    return {
        "about": "Pre-queue lottery test vectors (docs/LOTTERY.md), generated by "
        "deploy/oracles/lottery.py; do not edit by hand.",
        "algorithm": ALGORITHM,
        "vectors": out,
    }


def render() -> str:
    return json.dumps(vectors(), indent=2, ensure_ascii=True) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--write", metavar="FILE", help="write the vectors to FILE")
    g.add_argument("--check", metavar="FILE", help="fail if FILE differs from the vectors")
    args = p.parse_args()
    text = render()
    if args.write:
        with open(args.write, "w", encoding="utf-8") as f:
            f.write(text)
        return 0
    if args.check:
        try:
            with open(args.check, encoding="utf-8") as f:
                committed = f.read()
        except OSError as e:
            print(f"lottery vectors: cannot read {args.check}: {e}", file=sys.stderr)
            return 1
        if committed == text:
            n = len(json.loads(text)["vectors"])
            print(f"lottery vectors: {args.check} = deploy/oracles/lottery.py ({n} vectors)")
            return 0
        diff = difflib.unified_diff(
            committed.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=args.check,
            tofile="deploy/oracles/lottery.py",
            n=1,
        )
        sys.stdout.writelines(list(diff)[:60])
        print(f"lottery vectors: {args.check} differs from what deploy/oracles/lottery.py computes")
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
