#!/usr/bin/env python3
"""The `2bit` state of 100,000 seats whose statuses are drawn at random, seat by seat,
in base64 as GET .../seats/state sends it, and its size after gzip at the gateway's
level (4): the bound for a map without runs (an on-sale fills blocks of seats, so real
maps compress better). Prints `random_state raw=N gzip=M` per mix."""

import base64
import gzip
import random

SEATS = 100_000
rng = random.Random(7)
for name, weights in [("uniform", (1, 1, 1)), ("half_sold", (40, 10, 50))]:
    codes = rng.choices([0, 1, 2], weights=weights, k=SEATS)
    packed = bytearray((SEATS + 3) // 4)
    for i, c in enumerate(codes):
        packed[i // 4] |= c << ((i % 4) * 2)
    text = base64.b64encode(bytes(packed))
    print(f"random_state {name} raw={len(text)} gzip={len(gzip.compress(text, 4))}")
