"""CODEGEN_VERSION changes whenever emitted code changes.

symml/codegen/version.py records, per codegen version, a SHA-256 of the bodies of generated/
(provenance left out: docstrings, seals, input and runtime hashes). If generated/ emits
other code than the current version's digest says, the version was not bumped. No numba.
"""
from pathlib import Path

from symml.build import emitted_digest, generated_source
from symml.catalog import GENERATED
from symml.codegen.version import CODEGEN_VERSION, EMITTED, emitted_digest_of

ROOT = Path(__file__).resolve().parent.parent


def _on_disk() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(GENERATED.glob("*.py")) if p.stem != "__init__"}


def test_emitted_code_matches_the_codegen_version():
    digest = emitted_digest(_on_disk())
    assert emitted_digest_of(CODEGEN_VERSION) == digest, (
        f"generated/ emits other code than codegen version {CODEGEN_VERSION} recorded. If you changed what is "
        f"emitted: bump CODEGEN_VERSION in symml/codegen/version.py, add its entry to EMITTED, run "
        f"`symml generate`, and record the digest this test prints then (now {digest}). If generated/ is "
        f"only stale, run `symml generate` first (see `symml generate --check`)."
    )


def test_each_version_has_its_own_digest():
    assert list(EMITTED)[-1] == CODEGEN_VERSION, "the newest entry of EMITTED is the current version"
    own = [d for d in EMITTED.values() if not d.startswith("=")]
    assert len(set(own)) == len(own), "a new digest needs a new version, never an old one's"
    for v, d in EMITTED.items():  # "=N": the same bodies as an earlier version N
        assert not d.startswith("=") or list(EMITTED).index(d[1:]) < list(EMITTED).index(v)


def test_the_digest_ignores_provenance_and_sees_code():
    texts = _on_disk()
    name = "least_squares"
    # a derivation's provenance (its input hash, the runtime's hash, the seal) is not emitted code
    moved = {**texts, name: texts[name].replace("SYMML_INPUT_HASH = '", "SYMML_INPUT_HASH = '0", 1)}
    assert emitted_digest(moved) == emitted_digest(texts)
    # a change of one emitted statement is
    edited = {**texts, name: texts[name].replace("    return ", "    return 0 + ", 1)}
    assert emitted_digest(edited) != emitted_digest(texts)
    assert texts[name] == generated_source(name), "generated/ is current (else the digest is of stale code)"
