"""Identifiers the way Ioto shapes them, drawn from one seeded random source."""

from __future__ import annotations

import random
import string

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CLAIM_ALPHABET = string.ascii_uppercase + string.digits


class Ids:
    """Seeded: the same seed gives the same ids (and tokens) in the same order."""

    def __init__(self, seed: int | None) -> None:
        self.random = random.Random(seed) if seed is not None else random.SystemRandom()

    def claim_id(self) -> str:
        """A device claim id: 10 upper-case letters and digits."""
        return "".join(self.random.choice(CLAIM_ALPHABET) for _ in range(10))

    def ulid(self, now_ms: int) -> str:
        """A ULID: 48-bit time then 80 random bits, Crockford base32 (sorts by time)."""
        value = (now_ms << 80) | self.random.getrandbits(80)
        return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))

    def token(self, length: int = 32) -> str:
        """An opaque API token: upper-case hexadecimal."""
        return "".join(self.random.choice("0123456789ABCDEF") for _ in range(length))

    def secret(self, length: int = 40) -> str:
        alphabet = string.ascii_letters + string.digits + "/+"
        return "".join(self.random.choice(alphabet) for _ in range(length))
