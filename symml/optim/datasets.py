"""scikit-learn's bundled datasets as float64 arrays with column names, for examples and tests.

Transforms (imputation, scaling), splits and metrics are scikit-learn's own: use
sklearn.impute, sklearn.preprocessing, sklearn.model_selection and sklearn.metrics together
with the estimators of :mod:`symml.sklearn` (the README shows a Pipeline with GridSearchCV).

Takes: a dataset name. Gives: (X, y, feature_names).
"""
from __future__ import annotations

import numpy as np

DATASETS = ("breast_cancer", "iris", "diabetes", "digits")


def load_dataset(name: str):
    """(X, y, feature_names) of one of scikit-learn's bundled datasets (they ship inside the package, no download)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; bundled: {', '.join(DATASETS)}")
    try:
        from sklearn import datasets
    except ImportError:
        raise ValueError("load_dataset needs scikit-learn (pip install 'symml[sklearn]')") from None
    bunch = getattr(datasets, f"load_{name}")()
    names = list(getattr(bunch, "feature_names", [])) or [f"x{i}" for i in range(bunch.data.shape[1])]
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target), names
