"""The codegen version, and what each version emits.

``CODEGEN_VERSION`` enters every generated module's header and input hash and the key of
``sm.compile``'s cache. It changes whenever emitted code changes: ``EMITTED`` records, per
version, a SHA-256 of the bodies of generated/ (see :func:`symml.build.emitted_digest`), and
tests/test_codegen_version.py fails when the bodies no longer match the current version's
digest, telling the developer to bump the version and record the new digest.
"""
CODEGEN_VERSION = "2"

#: version → SHA-256 of the generated bodies it emits (one new entry per bump; never edit an old one)
EMITTED = {
    "2": "e0935e91342dd1042304ba7632e93048c16492bf5385ed328b3986cd10c032cc",
}
