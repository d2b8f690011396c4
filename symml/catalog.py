"""The catalog: find the derivations in derivations/ and load them by name.

A file in derivations/ defines ``derivation = sm.Derivation(...)`` (see :mod:`symml.spec`),
or a list ``derivations`` of variants. This module indexes them by name once, and knows
where their files and generated modules live. Generating the modules is :mod:`symml.build`'s.

Takes: derivation modules. Gives: names and :class:`~symml.spec.Derivation` objects.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from .spec import NAME, STANDARD_KERNELS, CatalogError, Derivation

__all__ = ["catalog", "load", "derivation_file", "Derivation", "CatalogError", "STANDARD_KERNELS",
           "ROOT", "DERIVATIONS", "GENERATED"]

ROOT = Path(__file__).resolve().parent.parent
DERIVATIONS = ROOT / "derivations"
GENERATED = ROOT / "generated"


def _module_stems() -> list[str]:
    return sorted(p.stem for p in DERIVATIONS.glob("*.py") if NAME.match(p.stem))


def _derivations_of(stem: str) -> list[Derivation]:
    """The derivations a file defines: ``derivation``, or a list ``derivations`` of variants."""
    module = importlib.import_module(f"derivations.{stem}")
    found = getattr(module, "derivations", None)
    if found is None:
        found = [getattr(module, "derivation", None)]
    for d in found:
        if not isinstance(d, Derivation):
            raise CatalogError(f"derivations/{stem}.py must define `derivation = sm.Derivation(...)` "
                               "or a list `derivations` of them")
        if not d.doc:
            d.doc = (module.__doc__ or "").strip()
        d.source = stem
    return list(found)


_INDEX: dict[str, str] = {}


def _index() -> dict[str, str]:
    """derivation name → the file (stem) that defines it."""
    if not _INDEX:
        for stem in _module_stems():
            for d in _derivations_of(stem):
                if d.name in _INDEX:
                    raise CatalogError(f"derivation {d.name!r} is defined twice")
                _INDEX[d.name] = stem
    return _INDEX


def catalog() -> list[str]:
    """The names of the catalog's derivations (a file may define several variants)."""
    return sorted(_index())


def load(name: str) -> Derivation:
    """The derivation called ``name``, defined in derivations/."""
    if not isinstance(name, str) or not NAME.match(name):
        raise CatalogError(f"invalid derivation name {name!r}: expected lowercase letters, digits and '_'")
    stem = _index().get(name)
    if stem is None:
        raise CatalogError(f"unknown derivation {name!r}; the catalog has: {', '.join(catalog())}")
    for d in _derivations_of(stem):
        if d.name == name:
            return d
    raise CatalogError(f"derivation {name!r} vanished from derivations/{stem}.py")  # pragma: no cover


def derivation_file(name: str) -> Path:
    """The file in derivations/ that defines the derivation ``name``."""
    load(name)  # a clear CatalogError for a bad or unknown name
    return DERIVATIONS / f"{_index()[name]}.py"


def generated_dir() -> Path:
    """Where generated modules are written (``GENERATED``, read when called)."""
    return GENERATED
