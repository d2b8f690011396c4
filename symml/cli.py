"""The ``symml`` command: list, show, derive, generate, check.

Errors are one line on stderr (``symml: error: ...``); usage errors exit 2, failures
exit 1. No SymPy or numba traceback reaches the terminal.

Takes: command-line arguments. Gives: text on stdout and an exit code.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

EPILOG = "Run `symml COMMAND --help` for a command's options."


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


def _fmt_printer(args, where: bool = True):
    """pretty or latex; ``where=False`` prints named intermediates by name alone (their
    equations follow, as in ``show``)."""
    from . import printing

    if getattr(args, "latex", False):
        return lambda e: printing.latex(e, where=where)
    return lambda e: printing.pretty(e, where=where)


def cmd_list(args) -> int:
    from .catalog import catalog, load

    for name in catalog():
        d = load(name)
        params = ", ".join(f"{p.name}" for p in d.params)
        print(f"{name:<28} {d.title}  [params: {params}; kernels: {', '.join(d.kernels + tuple(d.extra))}]")
    return 0


def cmd_show(args) -> int:
    """The loss, the program of the gradient and, with --hessian, every block of the Hessian.

    What is printed is what the derivation derived (its ``grads`` and ``hessian_blocks``),
    read through a Program: the steps carry the names the kernels use. Nothing is derived here.
    """
    from . import printing
    from .catalog import load
    from .printing.equations import hessian_lhs, program_equations
    from .nodes import Let
    from .program import program_from_outputs

    d = load(args.name)
    show = _fmt_printer(args, where=False)  # the equations below define the names the loss uses
    if args.report:
        from .report import report  # optional stage, provided by the reports feature

        print(report(d, fmt=args.format))
        return 0
    names = [p.name for p in d.params]
    fmt = "latex" if args.latex else "unicode"

    def pick(p):
        if p is None:
            return d.params
        for t in d.params:
            if t.name == p:
                return [t]
        raise UsageError(f"unknown parameter {p!r} of {d.name}: expected one of {', '.join(names)}")

    print(f"{d.name}: {d.title}")
    if d.notes.get("loss") and not (args.index or args.latex):
        print(d.notes["loss"])  # e.g. a dual's constraints and primal recovery, a Lagrangian's KKT conditions
    print("L = " + show(d.loss) if not args.index else printing.index_form(d.loss, name="L"))
    shown = pick(args.grad)  # the gradient is always shown; --grad P narrows it to one parameter
    if args.index:
        for p in shown:
            print(printing.index_form(d.grad_of(p), name="L", wrt=p, fmt=fmt))
    else:
        # the forward values and the δ recursion once (named as in the kernels), then every gradient
        named = [v for e in d.extra.values() for v in (e if isinstance(e, tuple) else (e,)) if isinstance(v, Let)]
        grads = {f"grad_{p.name}": d.grad_of(p) for p in shown}  # γ of the extra kernels, where they recur
        print(program_equations(program_from_outputs(grads, named=named), fmt))
    if args.hessian is not None:
        rows = pick(args.hessian or None)
        print()  # the Hessian's equations apart from the gradient's
        k = len(d.params)
        blocks = {(p.name, q.name): d.hessian_blocks[i * k + j] for i, p in enumerate(d.params)
                  for j, q in enumerate(d.params) if p in rows}  # every block of the rows asked, cross blocks too
        if args.index:
            for (pn, qn), H in blocks.items():
                print(printing.index_form(H, name="L", wrt=(d.params[names.index(pn)], d.params[names.index(qn)])))
        else:
            prog = program_from_outputs({f"hessian_{pn}_{qn}": H for (pn, qn), H in blocks.items()})
            spelling = printing.LATEX if args.latex else printing.UNICODE
            lhs = {f"hessian_{pn}_{qn}": hessian_lhs(pn, qn, spelling, q_rank=d.params[names.index(qn)].ndim)
                   for pn, qn in blocks}
            print(program_equations(prog, fmt, lhs=lhs))
    return 0


def cmd_derive(args) -> int:
    from . import printing
    from .calculus import grad, hessian
    from .parse import parse, tensors_from_specs

    space = tensors_from_specs(args.shape or [])
    expr = parse(args.expr, space)
    if not args.wrt:
        raise UsageError("derive needs --wrt NAME (the tensor to differentiate with respect to)")
    if args.wrt not in space:
        raise UsageError(f"--wrt {args.wrt}: not declared; declare it with --shape {args.wrt}=DIM,...")
    x = space[args.wrt]
    show = _fmt_printer(args)
    print("f = " + show(expr))
    if args.index:
        print(printing.index_form(grad(expr, x), name="f", wrt=args.wrt))
    else:
        print(f"∂f/∂{args.wrt} = " + show(grad(expr, x)))
    if args.hessian:
        print(f"∂²f/∂{args.wrt}² = " + show(hessian(expr, x)))
    return 0


def _progress(args, total: int, verb: str):
    from .progress import Lines

    return Lines(total, verb, enabled=False if args.quiet else None)


def cmd_generate(args) -> int:
    from .build import generate
    from .catalog import catalog

    names = args.names or catalog()
    progress = _progress(args, len(names), "checking" if args.check else "generating")
    results = []
    for n in names:  # one module at a time, so that a terminal sees each one start
        progress.item(n)
        results += [r for r in generate([n], check=args.check) if r not in results]  # the runtime comes once
    progress.done()
    bad = [(n, s) for n, s in results if s in ("stale", "missing", "corrupt")]
    for n, s in results:
        if args.check:
            if s != "unchanged":
                print(f"generated/{n}.py is {s}: run `symml generate {n}`")
        elif not args.quiet or s != "unchanged":
            print(f"generated/{n}.py {s}")
    if args.check and not bad:
        print(f"{len(results)} generated modules are current")
    return 1 if bad else 0


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _check_one(name: str, points: int, seed: int, float32: bool):
    """(stale modules, [(report text, passed)]) of one derivation: what `symml check` prints of it."""
    from .build import generate
    from .verify import check

    stale = [(m, s) for m, s in generate([name], check=True) if s != "unchanged"]  # the runtime, then name
    if stale:
        return stale, []
    reports = []
    for dt in (np.float64, np.float32) if float32 else (np.float64,):
        r = check(name, points=points, seed=seed, dtype=dt)
        reports.append((str(r), bool(r.ok)))
    return stale, reports


def cmd_check(args) -> int:
    from pathlib import Path

    import generated

    from .catalog import catalog
    from .progress import cold_in_numba_cache

    names = args.names or catalog()
    cold = cold_in_numba_cache([Path(generated.__file__).parent / f"{n}.py" for n in names])
    if cold and not args.quiet:
        print(f"symml check: numba's cache is cold for {len(cold)} of {len(names)} modules: this first run compiles "
              "their kernels (seconds to a minute each); later runs load them from the cache", file=sys.stderr)
    progress = _progress(args, len(names), "checking")
    jobs = max(1, min(args.jobs or _cores(), len(names)))
    ok = True
    if jobs == 1:
        results = (_check_one(n, args.points, args.seed, args.float32) for n in names)
    else:  # one module per process: compiling a cold catalog is numba's work, on one core each
        import concurrent.futures
        import multiprocessing

        pool = concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
        futures = [pool.submit(_check_one, n, args.points, args.seed, args.float32) for n in names]
        results = (f.result() for f in futures)
    for n, (stale, reports) in zip(names, results):
        progress.item(n)
        for m, status in stale:  # a corrupt module refuses to import; a stale one checks old code
            print(f"generated/{m}.py is {status}: run `symml generate{'' if m.startswith('_') else ' ' + m}`")
        ok &= not stale
        for text, passed in reports:
            if not (args.quiet and passed):
                print(text)
            ok &= passed
    if jobs > 1:
        pool.shutdown()
    progress.done()
    print("all checks passed" if ok else "some checks FAILED")
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="symml", description="Derive, print, generate and verify the mathematics of ML models.", epilog=EPILOG
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("list", help="list the catalog's derivations", description="List the catalog's derivations.")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("show", help="print a derivation's loss, gradient and Hessian",
                       description="Print a catalog model's loss and derivatives as a person writes them.")
    s.add_argument("name", help="a derivation name (see `symml list`)")
    s.add_argument("--grad", metavar="P", nargs="?", const=None, default=None,
                   help="print the gradient with respect to parameter P (default: all)")
    s.add_argument("--hessian", metavar="P", nargs="?", const="", default=None,
                   help="print the Hessian's blocks ∂²L/∂P∂Q for parameter P and every Q "
                        "(default: every block, the cross blocks too)")
    fmt = s.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true", help="LaTeX output")
    fmt.add_argument("--unicode", action="store_true", help="unicode output (the default)")
    fmt.add_argument("--index", action="store_true", help="index notation")
    s.add_argument("--report", action="store_true", help="a step-by-step derivation report")
    s.add_argument("--format", choices=("md", "tex", "html"), default="md", help="report format (with --report)")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("derive", help="differentiate an expression typed in the shell",
                       description="Differentiate an expression in the DSL's notation, e.g. "
                                   "symml derive 'sum(softplus(X @ w) - y * (X @ w))' --shape X=n,d "
                                   "--shape w=d --shape y=n --wrt w --hessian. The expression is parsed by a "
                                   "restricted parser; nothing is evaluated.")
    s.add_argument("expr", help="the expression (DSL operators and functions only)")
    s.add_argument("--shape", action="append", metavar="NAME=DIMS",
                   help="declare a tensor, e.g. X=n,d or w=d; NAME= declares a scalar")
    s.add_argument("--wrt", metavar="NAME", help="differentiate with respect to this tensor")
    s.add_argument("--hessian", action="store_true", help="also print the Hessian")
    fmt = s.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true", help="LaTeX output")
    fmt.add_argument("--index", action="store_true", help="index notation for the gradient")
    s.set_defaults(func=cmd_derive)

    s = sub.add_parser("generate", help="write generated/<name>.py for each derivation",
                       description="Write the kernel modules in generated/ (atomically; unchanged files keep "
                                   "their bytes). With --check, write nothing and exit 1 if any is stale or missing.")
    s.add_argument("names", nargs="*", metavar="NAME", help="derivations (default: the whole catalog)")
    s.add_argument("--check", action="store_true", help="only check that generated/ is current")
    s.add_argument("--quiet", "-q", action="store_true",
                   help="no progress lines (they go to stderr, and only to a terminal) and no 'unchanged' lines")
    s.set_defaults(func=cmd_generate)

    s = sub.add_parser("check", help="verify kernels against finite differences",
                       description="Compare every derivative kernel with central finite differences of the "
                                   "kernel it differentiates. Exits 1 on any failure.")
    s.add_argument("names", nargs="*", metavar="NAME", help="derivations (default: the whole catalog)")
    s.add_argument("--points", type=int, default=3, help="random points per scale (default 3)")
    s.add_argument("--seed", type=int, default=0, help="RNG seed (default 0)")
    s.add_argument("--float32", action="store_true", help="also check the float32 path")
    s.add_argument("--jobs", "-j", type=int, default=None,
                   help="modules checked at once, one process each (default: this machine's cores)")
    s.add_argument("--quiet", "-q", action="store_true",
                   help="no progress lines, no cold-cache note, and only the failing reports")
    s.set_defaults(func=cmd_check)
    return p




def main(argv=None) -> int:
    parser = build_parser()

    def usage_error(message):
        print(f"symml: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    for sp_ in [parser] + [a for a in parser._subparsers._group_actions[0].choices.values()]:
        sp_.error = usage_error
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except BrokenPipeError:  # `symml show ... | head`: the reader left; not an error worth a traceback
        sys.stderr.close()
        return 0
    except UsageError as e:
        print(f"symml: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, KeyError, ImportError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"symml: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
