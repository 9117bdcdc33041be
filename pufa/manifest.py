"""The index manifest: what an index was built from, so a mismatched index is refused, not misused."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import IndexMismatchError

# 2: the catalog holds the repealed-article → counterpart mapping (pufa.mapping)
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Manifest:
    schema_version: int
    built_at: str
    embedder: str
    embedder_dim: int
    chunking: dict
    corpus_fingerprint: str
    sources: list[str]
    counts: dict
    lexical: dict
    skipped: list[list[str]] = field(default_factory=list)
    warnings: int = 0
    build_seconds: float = 0.0
    # relative path → [size, sha1] of every file the build wrote, so a damaged file is an error, not
    # silently wrong answers (empty in indexes built before this was recorded)
    files: dict = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # SourceReport.notices (empty in older indexes)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as e:
            raise IndexMismatchError(
                f"The index manifest {path} is unreadable ({e}). Rebuild with: python -m pufa index --rebuild") from e

    def check(self, *, embedder: str, chunking: dict) -> None:
        """Raise when this index was built with other settings than the ones in force."""
        problems = []
        if self.schema_version != SCHEMA_VERSION:
            problems.append(f"schema version {self.schema_version} (this Pufa reads {SCHEMA_VERSION})")
        if self.embedder != embedder:
            problems.append(f"embedder {self.embedder!r} (settings ask for {embedder!r})")
        if self.chunking != chunking:
            problems.append(f"chunking {self.chunking} (settings ask for {chunking})")
        if problems:
            raise IndexMismatchError(
                "The index was built with " + "; ".join(problems)
                + ". Rebuild it with: python -m pufa index (vectors already computed are reused).")
