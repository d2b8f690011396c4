"""The codegen version, and what each version emits.

``CODEGEN_VERSION`` enters every generated module's header and input hash and the key of
``sm.compile``'s cache. It changes whenever emitted code changes: ``EMITTED`` records, per
version, a SHA-256 of the bodies of generated/ (see :func:`symml.build.emitted_digest`), and
tests/test_codegen_version.py fails when the bodies no longer match the current version's
digest, telling the developer to bump the version and record the new digest. A version that
changes only what ``sm.compile`` emits (code no catalog module has) records ``"=N"``: the bodies
of generated/ are version N's, and the bump renews the cache keys of ``sm.compile``.
"""
CODEGEN_VERSION = "21"

#: version → SHA-256 of the generated bodies it emits (one new entry per bump; never edit an old one)
EMITTED = {
    "2": "94d1199a1786e73c1deafd0d7c2e2388d91773e22b4c865c6413b1b2838bfaee",
    "3": "dce7eca813da30eb197cea9ddfd256e6d9c277a7ce09c13c0f9724107d6f9546",  # named Program steps, canonical forms, vecmath, new operations; helpers in the runtime
    "4": "60ed8b98c10854dfffefaaea8f018d43e3c6a84d3ba6a112ce69fe952578448a",  # one planner with sm.compile, bounded memory, one factorisation, conv on BLAS, threads on idle cores, lint-clean, simplex
    "5": "d7eb577aeabd3cec1bea05fbd1deee6896141bb89935b9bc369ea7c24032460f",  # threaded twins compile in a thread behind a serial first call
    "6": "e0f21510de412160a3ff17c55948ee1ea43c306b7b825eda52d54ae0bf4ba75d",  # a composed kernel without a regulariser is called by its wrapper through its chunk kernel, not an njit caller
    "7": "29b6d3318a3d4848de2b85db5bbe52d677204a77da4ee574e3e96d17a0e73028",  # the full sum of a map nothing else reads is one loop, with no array
    "8": "11bf623775a6979d7516ab770a751de09a0039e0e031549ac0432f7d353b459d",  # a composed kernel with a regulariser is called by its wrapper in Python too (its chunk kernel holds the types its twin compiles for)
    "9": "72a3c90f5e098591062f62e877da9da03877ce7276443dc3456dcff042c5dc5e",  # elementwise loop nests over one domain run as one; the C heap keeps freed temporaries
    "10": "6a972965d3ced2f9632cb32b1c1417162117da65ab767f191b0f1e7e5084c933",  # a sum over leading axes joins its map's loop (the kept axes innermost); a row sum of a map nothing else reads is a register, with no array
    "11": "da1c7438e5ffa0a1c93b28cd99dca73c5ea39756fc37c9a7123e9ab0ff611026",  # the runtime counts this process's threads from a list read again whenever their number changes
    "12": "1c755cdd7bcb998b507c34fe46bb06e68a87e8d2cd8daa55d19543c7d5d4083a",  # a call that would thread starts its twin's compile by size, whatever the load at that instant
    "13": "3306c8c37490e7aefd55fe7f69216bfb955d72fdca613f6440f7eeeeca186b3e",  # the runtime asks an interim form (sm.compile's numpy first calls) before numba's kernel, while one is registered
    "14": "6b8072906be179b99fcd60c28aac476afb7451639a3d52ce73634045bd4a6f66",  # a matrix product with 2 to 10 columns is a loop (_dot_nn, _dot_tn), not BLAS
    "15": "9f5f00180764ae357a87db42b40ca4f40a38617ef601a7809f10a7cd3445a101",  # a weighted Gram's kernel gets a twin that splits the rows into one slab per thread, the BLAS at one thread
    "16": "f1ddb467e9193b8c3f141eebfaeb1e32d1ed2368ed293701944261da9c3150bd",  # a Gram of one slab (the serial kernel) is returned without a copy
    "17": "=16",  # a row factor's gradient is a per-row output of chunk kernels; an affine total's row part is exact
    "18": "=16",  # a plain sum over rows of an unshared matrix product sums the rows first (Σ rPᵀ = (Σ r)Pᵀ)
    "19": "5811339eefcd4ad29fe650c8bf8b81d0f0ec54116a27d7ffecaf62b78897917e",  # a named multiple of one value is read as that value inside a contraction; sm.compile's maps read the named values they repeat
    "20": "1d8ebf8e12e6126e559c1d9d5395ad0b3db4808e842661d80528ccc3c83ef2d2",  # the runtime makes a fork wait for the compiles in flight
    "21": "=20",  # a plain Gram beside other products runs by blocks of rows with them (256 rows at least)
}


def emitted_digest_of(version: str) -> str:
    """The digest of generated/'s bodies at ``version``, following "=N" to version N."""
    d = EMITTED[version]
    return emitted_digest_of(d[1:]) if d.startswith("=") else d
