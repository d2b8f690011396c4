"""The pipeline around a fit is scikit-learn's: symml.optim keeps only the dataset loader.

symml.optim no longer defines transforms, splits or metrics (scikit-learn has them); the
bundled datasets load as before; NaN still stops a fit with a one-line error naming the
column, and scikit-learn's SimpleImputer in a Pipeline with a symml estimator fills it in; the
worked example runs on scikit-learn's transforms. Only the last two tests need numba.
"""
import runpy
from pathlib import Path

import numpy as np
import pytest

import symml.optim

pytest.importorskip("sklearn")
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from symml.optim import load_dataset

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pipeline_breast_cancer.py"
REMOVED = ("Imputer", "StandardScaler", "MinMaxScaler", "train_test_split", "confusion_matrix", "accuracy",
           "precision", "recall", "f1_score", "classification_report", "rmse", "r2_score", "regression_report")


def test_no_hand_written_transforms_or_metrics():
    for name in REMOVED:
        assert not hasattr(symml.optim, name), name
    assert not set(REMOVED) & set(symml.optim.__all__)


def test_bundled_datasets():
    shapes = {"breast_cancer": (569, 30), "iris": (150, 4), "diabetes": (442, 10), "digits": (1797, 64)}
    for name, shape in shapes.items():
        X, y, columns = load_dataset(name)
        assert X.shape == shape and len(y) == shape[0] and len(columns) == shape[1]
        assert X.dtype == np.float64
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("mnist")


@pytest.mark.compile
def test_nan_is_refused_by_the_estimator_and_imputed_by_scikit_learn(rng):
    from symml.sklearn import LogisticRegression

    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)
    X[rng.random(X.shape) < 0.1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match=r"column \d+ \('\w+'\) contains NaN or inf .*SimpleImputer"):
        symml.optim.fit("logistic_regression", (X, y.astype(float)), lam=1.0, columns=["a", "b", "c"])
    pipe = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression()).fit(X, y)
    assert pipe.score(X, y) > 0.7  # a tenth of the entries are imputed medians


@pytest.mark.compile
def test_worked_example_runs():
    reports = runpy.run_path(str(EXAMPLE))["main"](verbose=False)
    assert set(reports) == {"newton", "adam"}
    for report in reports.values():
        assert report["accuracy"] > 0.95 and report["f1"] > 0.95
        assert report["confusion_matrix"].sum() == 143  # the test quarter of 569 rows
