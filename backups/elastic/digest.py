"""The order-independent digest of an index's documents (docs/repository-format.md).

Each document's dump line (`{"_id":…,"_routing":…,"_source":…}` of format ndjson-v1,
without its newline) is hashed with SHA-256; the digest is the sum of those hashes, read
as 256-bit big-endian integers, modulo 2^256. A sum does not depend on the order the
documents come in, so a dump's parallel slices and a verifier's read of the restored
index agree without sorting on `_id` (which Elasticsearch 8 refuses by default)."""
from __future__ import annotations

import hashlib

ALGORITHM = "sha256-sum-v1"
_MOD = 1 << 256


class DocumentDigest:
    """Adds dump lines as they come; thread-compatible only (one per index and reader)."""

    def __init__(self) -> None:
        self.total = 0
        self.docs = 0

    def add_lines(self, lines: bytes) -> None:
        """A page of dump lines, each ending with a newline (parse_page's output)."""
        sha, total, docs = hashlib.sha256, self.total, 0
        for line in lines.split(b"\n"):
            if line:
                total += int.from_bytes(sha(line).digest(), "big")
                docs += 1
        self.total, self.docs = total % _MOD, self.docs + docs

    def hexdigest(self) -> str:
        return f"{self.total:064x}"

    def as_meta(self) -> dict[str, object]:
        """What a manifest's stream meta records under "digest"."""
        return {"algorithm": ALGORITHM, "value": self.hexdigest(), "docs": self.docs}
