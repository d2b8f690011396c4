"""The pipeline helpers of symml.optim against scikit-learn, and the worked example.

Imputer, StandardScaler and MinMaxScaler against sklearn.impute / sklearn.preprocessing;
the metrics against sklearn.metrics; the split for sizes, disjointness, reproducibility and
stratification. None of these needs numba, except the example at the end.
"""
import runpy
from pathlib import Path

import numpy as np
import pytest

from symml.optim import (Imputer, MinMaxScaler, StandardScaler, accuracy, classification_report, confusion_matrix,
                         f1_score, load_dataset, precision, r2_score, recall, regression_report, rmse,
                         train_test_split)

skm = pytest.importorskip("sklearn.metrics")
skp = pytest.importorskip("sklearn.preprocessing")
ski = pytest.importorskip("sklearn.impute")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pipeline_breast_cancer.py"


@pytest.fixture
def holes(rng):
    X = rng.normal(size=(40, 4)) * [1.0, 10.0, 0.1, 3.0] + [0.0, 5.0, -1.0, 2.0]
    X[rng.random(X.shape) < 0.15] = np.nan
    return X


@pytest.mark.parametrize("strategy", ["mean", "median"])
def test_imputer_matches_simple_imputer(holes, strategy):
    train, test = holes[:30], holes[30:]
    ours, theirs = Imputer(strategy).fit(train), ski.SimpleImputer(strategy=strategy).fit(train)
    np.testing.assert_allclose(ours.statistics_, theirs.statistics_)
    np.testing.assert_allclose(ours.transform(test), theirs.transform(test))
    assert not np.any(np.isnan(ours.transform(test)))


def test_imputer_errors(holes):
    X = holes.copy()
    X[:, 2] = np.nan
    with pytest.raises(ValueError, match="column 2 has no values to impute from"):
        Imputer().fit(X)
    with pytest.raises(ValueError, match="strategy"):
        Imputer("mode")
    with pytest.raises(ValueError, match="fitted on 4 columns, got 3"):
        Imputer().fit(holes).transform(holes[:, :3])
    with pytest.raises(ValueError, match="call fit before transform"):
        Imputer().transform(holes)


def test_scalers_match_sklearn(rng):
    X = rng.normal(size=(50, 3)) * [1.0, 100.0, 1e-3] + [5.0, -2.0, 0.0]
    X = np.c_[X, np.full(50, 7.0)]  # a constant column: left unscaled, as in scikit-learn
    new = rng.normal(size=(5, 4))
    np.testing.assert_allclose(StandardScaler().fit(X).transform(new), skp.StandardScaler().fit(X).transform(new))
    for rng_ in [(0.0, 1.0), (-1.0, 1.0)]:
        ours = MinMaxScaler(rng_).fit(X).transform(new)
        np.testing.assert_allclose(ours, skp.MinMaxScaler(feature_range=rng_).fit(X).transform(new))
    Z = StandardScaler().fit_transform(X[:, :3])
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(0), 1)


def test_split_is_seeded_disjoint_and_stratified(rng):
    X, y = rng.normal(size=(103, 2)), np.r_[np.zeros(80, int), np.ones(23, int)]
    a = train_test_split(X, y, test_size=0.25, seed=5)
    b = train_test_split(X, y, test_size=0.25, seed=5)
    c = train_test_split(X, y, test_size=0.25, seed=6)
    assert all(np.array_equal(u, v) for u, v in zip(a, b)) and not np.array_equal(a[1], c[1])
    X_train, X_test, y_train, y_test = a
    assert len(X_test) == 26 and len(X_train) == 77  # ceil(0.25·103) test rows, as scikit-learn
    rows = {tuple(r) for r in X_train} | {tuple(r) for r in X_test}
    assert len(rows) == 103
    _, _, ytr, yte = train_test_split(X, y, test_size=0.25, seed=0, stratify=y)
    # 26 test rows: 26·80/103 = 20.2 zeros and 26·23/103 = 5.8 ones, the remainder to the ones
    assert len(yte) == 26 and np.sum(yte == 1) == 6 and np.sum(yte == 0) == 20
    with pytest.raises(ValueError, match="array 0 has 103 rows but array 1 has 102"):
        train_test_split(X, y[:-1])


def test_classification_metrics_match_sklearn(rng):
    y, p = rng.integers(0, 2, 60), rng.integers(0, 2, 60)
    assert accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p))
    assert precision(y, p) == pytest.approx(skm.precision_score(y, p))
    assert recall(y, p) == pytest.approx(skm.recall_score(y, p))
    assert f1_score(y, p) == pytest.approx(skm.f1_score(y, p))
    np.testing.assert_array_equal(confusion_matrix(y, p), skm.confusion_matrix(y, p))
    y3, p3 = rng.integers(0, 4, 80), rng.integers(0, 4, 80)
    for ours, theirs in ((precision, skm.precision_score), (recall, skm.recall_score), (f1_score, skm.f1_score)):
        assert ours(y3, p3, average="macro") == pytest.approx(theirs(y3, p3, average="macro"))
    np.testing.assert_array_equal(confusion_matrix(y3, p3), skm.confusion_matrix(y3, p3))
    report = classification_report(y3, p3)
    assert report["f1"] == pytest.approx(skm.f1_score(y3, p3, average="macro"))
    with pytest.raises(ValueError, match="needs two classes"):
        precision(y3, p3)
    with pytest.raises(ValueError, match="y_true has 60 labels but y_pred has 59"):
        accuracy(y, p[:-1])


def test_regression_metrics_match_sklearn(rng):
    y, p = rng.normal(size=30), rng.normal(size=30)
    assert rmse(y, p) == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert r2_score(y, p) == pytest.approx(skm.r2_score(y, p))
    assert regression_report(y, y) == {"rmse": 0.0, "r2": 1.0}
    with pytest.raises(ValueError, match="constant"):
        r2_score(np.ones(3), p[:3])


def test_bundled_datasets():
    shapes = {"breast_cancer": (569, 30), "iris": (150, 4), "diabetes": (442, 10), "digits": (1797, 64)}
    for name, shape in shapes.items():
        X, y, columns = load_dataset(name)
        assert X.shape == shape and len(y) == shape[0] and len(columns) == shape[1]
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("mnist")


@pytest.mark.compile
def test_worked_example_runs():
    reports = runpy.run_path(str(EXAMPLE))["main"](verbose=False)
    for report in reports.values():
        assert report["accuracy"] > 0.95 and report["f1"] > 0.95
        assert report["confusion_matrix"].sum() == 143  # the test quarter of 569 rows
