"""Progress on long work: lines per module for the CLI, a status line for sm.fit, the cold-cache
note of ``symml check``; all quiet when stderr is not a terminal or with --quiet."""
import io

import numpy as np
import pytest

from symml import cli, progress
from symml.optim import fitting as fit_module
from symml.optim.fitting import fit


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_lines_only_on_a_terminal():
    pipe, tty = io.StringIO(), Terminal()
    for stream in (pipe, tty):
        p = progress.Lines(2, "generating", stream=stream)
        p.item("ridge")
        p.item("lasso")
        p.done()
    assert pipe.getvalue() == ""
    lines = tty.getvalue().splitlines()
    assert lines[:2] == ["[1/2] generating ridge", "[2/2] generating lasso"] and lines[2].startswith("generating: 2 done")
    quiet = Terminal()
    progress.Lines(1, "checking", stream=quiet, enabled=False).item("ridge")
    assert quiet.getvalue() == ""


def test_status_line_waits_then_clears():
    tty = Terminal()
    s = progress.Status("fit", stream=tty, delay=10.0)
    s.update("1 kernel call")
    assert tty.getvalue() == ""  # short work prints nothing
    s = progress.Status("fit", stream=tty, delay=0.0)
    s.update("2 kernel calls, L = 1.5")
    s.close()
    assert "fit: 2 kernel calls, L = 1.5" in tty.getvalue() and tty.getvalue().endswith("\r")


def test_cold_cache_is_detected_from_index_files(tmp_path, monkeypatch):
    from numba.core import config
    from numba.core.caching import _CacheLocator

    module = tmp_path / "generated" / "toy.py"
    module.parent.mkdir()
    module.write_text("x = 1\n")
    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path / "cache"))
    assert progress.cold_in_numba_cache([module]) == [str(module)]
    folder = tmp_path / "cache" / _CacheLocator.get_suitable_cache_subpath(str(module))
    folder.mkdir(parents=True)
    (folder / "toy._loss-12.py311.nbi").write_bytes(b"")
    assert progress.cold_in_numba_cache([module]) == []


def test_generate_check_is_quiet_off_a_terminal(capsys):
    assert cli.main(["generate", "--check", "ridge", "lasso"]) == 0
    out, err = capsys.readouterr()
    assert out == "3 generated modules are current\n" and err == ""  # ridge, lasso and the runtime; no progress into a pipe


@pytest.mark.compile
def test_fit_status_line(monkeypatch, capsys):
    monkeypatch.setattr(fit_module, "PROGRESS_DELAY", 0.0)
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(float)
    fit("logistic_regression", (X, y), method="newton", lam=1.0, progress=True)
    err = capsys.readouterr().err
    assert "logistic_regression (newton): " in err and "kernel calls, L = " in err
    fit("logistic_regression", (X, y), method="newton", lam=1.0)  # stderr is not a terminal: nothing
    assert capsys.readouterr().err == ""


@pytest.mark.compile
def test_check_on_two_processes_prints_what_one_prints(capsys):
    """symml check -j 2 checks one module per process and prints the reports in the catalog's
    order, as -j 1 does (a cold catalog compiles on every core: 155 s on one, 81 s on two here)."""
    names = ["ridge", "least_squares"]
    assert cli.main(["check", *names, "-j", "1"]) == 0
    one = capsys.readouterr().out
    assert cli.main(["check", *names, "-j", "2"]) == 0
    assert capsys.readouterr().out == one
    assert one.index("ridge") < one.index("least_squares") and one.rstrip().endswith("all checks passed")
