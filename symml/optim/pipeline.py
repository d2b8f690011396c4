"""The pipeline around a fit: datasets, imputation, scaling, a seeded split and metrics.

Small, numpy-only counterparts of scikit-learn's SimpleImputer, StandardScaler,
MinMaxScaler, train_test_split and metrics, with the same conventions (tests compare them):
statistics are learnt on the training rows by ``fit`` and applied by ``transform``; a
constant column is left unscaled (scale 1); precision, recall and F1 of a multi-class
problem are macro averages. Only :func:`load_dataset` needs scikit-learn, for its bundled
datasets (breast_cancer, iris, diabetes, digits: they ship inside the package, no download).

>>> import numpy as np
>>> X = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, 8.0]])
>>> Imputer("median").fit_transform(X)
array([[1., 6.],
       [3., 4.],
       [5., 8.]])
>>> confusion_matrix([0, 1, 1, 0], [0, 1, 0, 0])
array([[2, 0],
       [1, 1]])

Takes: arrays. Gives: arrays and numbers.
"""
from __future__ import annotations

import numpy as np

DATASETS = ("breast_cancer", "iris", "diabetes", "digits")


def load_dataset(name: str):
    """(X, y, feature_names) of one of scikit-learn's bundled datasets (no download)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; bundled: {', '.join(DATASETS)}")
    try:
        from sklearn import datasets
    except ImportError:
        raise ValueError("load_dataset needs scikit-learn (pip install 'symml[test]')") from None
    bunch = getattr(datasets, f"load_{name}")()
    names = list(getattr(bunch, "feature_names", [])) or [f"x{i}" for i in range(bunch.data.shape[1])]
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target), names


def _matrix(X, name="X") -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected a real matrix (n, d), got shape {X.shape} and dtype {X.dtype}")
    return X.astype(np.float64)


class _Transform:
    """fit on training rows, transform any rows with the same number of columns."""

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    def _columns(self, X):
        X = _matrix(X)
        if not hasattr(self, "d_"):
            raise ValueError(f"{type(self).__name__}: call fit before transform")
        if X.shape[1] != self.d_:
            raise ValueError(f"{type(self).__name__}: fitted on {self.d_} columns, got {X.shape[1]}")
        return X


class Imputer(_Transform):
    """Replace NaN by the column's mean or median over the training rows.

    Args:
        strategy: "mean" or "median".
    """

    def __init__(self, strategy: str = "mean"):
        if strategy not in ("mean", "median"):
            raise ValueError(f"strategy: expected 'mean' or 'median', got {strategy!r}")
        self.strategy = strategy

    def fit(self, X):
        X = _matrix(X)
        if np.any(np.isinf(X)):
            col = int(np.flatnonzero(np.isinf(X).any(axis=0))[0])
            raise ValueError(f"X: column {col} contains inf; only NaN is imputed")
        empty = np.flatnonzero(np.all(np.isnan(X), axis=0))
        if empty.size:
            raise ValueError(f"X: column {int(empty[0])} has no values to impute from (all NaN)")
        self.statistics_ = (np.nanmean if self.strategy == "mean" else np.nanmedian)(X, axis=0)
        self.d_ = X.shape[1]
        return self

    def transform(self, X):
        X = self._columns(X).copy()
        rows, cols = np.nonzero(np.isnan(X))
        X[rows, cols] = self.statistics_[cols]
        return X


class StandardScaler(_Transform):
    """(x − mean) / std per column, std the population one (ddof 0); constant columns keep scale 1."""

    def fit(self, X):
        X = _matrix(X)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 10 * np.finfo(float).eps * np.maximum(np.abs(self.mean_), 1.0), std, 1.0)
        self.d_ = X.shape[1]
        return self

    def transform(self, X):
        return (self._columns(X) - self.mean_) / self.scale_


class MinMaxScaler(_Transform):
    """Map each column's training range onto feature_range (constant columns: shifted only)."""

    def __init__(self, feature_range=(0.0, 1.0)):
        lo, hi = feature_range
        if not lo < hi:
            raise ValueError(f"feature_range: expected (min, max) with min < max, got {feature_range}")
        self.feature_range = (float(lo), float(hi))

    def fit(self, X):
        X = _matrix(X)
        self.min_, span = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
        self.span_ = np.where(span > 0, span, 1.0)
        self.d_ = X.shape[1]
        return self

    def transform(self, X):
        lo, hi = self.feature_range
        return lo + (self._columns(X) - self.min_) / self.span_ * (hi - lo)


def train_test_split(*arrays, test_size: float = 0.25, seed: int = 0, stratify=None):
    """Shuffle rows with ``seed`` and split every array the same way: (a_train, a_test, b_train, ...).

    The test set has ceil(test_size·n) rows (scikit-learn's rule). With ``stratify`` (labels)
    each class gets its share of them (rounded down, the rows left over going to the classes
    with the largest remainders), so the proportions of the classes are kept.
    """
    if not arrays:
        raise ValueError("train_test_split: give at least one array")
    n = len(arrays[0])
    for i, a in enumerate(arrays[1:], 1):
        if len(a) != n:
            raise ValueError(f"train_test_split: array 0 has {n} rows but array {i} has {len(a)}")
    if not 0 < test_size < 1:
        raise ValueError(f"test_size: expected a fraction in (0, 1), got {test_size!r}")
    rng = np.random.default_rng(seed)
    if stratify is None:
        perm = rng.permutation(n)
        k = int(np.ceil(test_size * n))
        test, train = perm[:k], perm[k:]
    else:
        labels = np.asarray(stratify)
        if len(labels) != n:
            raise ValueError(f"stratify: expected {n} labels, got {len(labels)}")
        classes, counts = np.unique(labels, return_counts=True)
        k = int(np.ceil(test_size * n))
        share = k * counts / n  # each class's test rows: floors, then the largest remainders
        take = np.floor(share).astype(int)
        take[np.argsort(take - share, kind="stable")[:k - take.sum()]] += 1
        test = []
        for c, m in zip(classes, take):
            test.extend(rng.permutation(np.flatnonzero(labels == c))[:m])
        test = np.sort(np.array(test, dtype=np.int64))
        train = np.setdiff1d(np.arange(n), test)
        train, test = rng.permutation(train), rng.permutation(test)
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"train_test_split: {n} rows leave an empty train or test set")
    out = []
    for a in arrays:
        a = np.asarray(a)
        out += [a[train], a[test]]
    return out


def _labels(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    if y_true.size == 0:
        raise ValueError("no labels")
    return y_true, y_pred


def confusion_matrix(y_true, y_pred, labels=None) -> np.ndarray:
    """C[i, j] = the number of samples of class labels[i] predicted as labels[j]."""
    y_true, y_pred = _labels(y_true, y_pred)
    labels = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    index = {v: i for i, v in enumerate(labels.tolist())}
    C = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true.tolist(), y_pred.tolist()):
        if t in index and p in index:
            C[index[t], index[p]] += 1
    return C


def accuracy(y_true, y_pred) -> float:
    """The fraction of correct predictions."""
    y_true, y_pred = _labels(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def _per_class(y_true, y_pred):
    C = confusion_matrix(y_true, y_pred)
    tp = np.diag(C).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(C.sum(axis=0) > 0, tp / C.sum(axis=0), 0.0)
        recall = np.where(C.sum(axis=1) > 0, tp / C.sum(axis=1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return np.unique(np.concatenate([np.ravel(y_true), np.ravel(y_pred)])), precision, recall, f1


def _average(which, y_true, y_pred, pos_label, average):
    labels, *scores = _per_class(*_labels(y_true, y_pred))
    s = scores[which]
    if average == "macro":
        return float(np.mean(s))
    if average != "binary":
        raise ValueError(f"average: expected 'binary' or 'macro', got {average!r}")
    if len(labels) > 2:
        raise ValueError(f"average='binary' needs two classes, got {len(labels)}; use average='macro'")
    hit = np.flatnonzero(labels == pos_label)
    return float(s[hit[0]]) if hit.size else 0.0


def precision(y_true, y_pred, pos_label=1, average="binary") -> float:
    """TP / (TP + FP) of pos_label ("binary"), or its mean over classes ("macro"); 0 if undefined."""
    return _average(0, y_true, y_pred, pos_label, average)


def recall(y_true, y_pred, pos_label=1, average="binary") -> float:
    """TP / (TP + FN) of pos_label ("binary"), or its mean over classes ("macro")."""
    return _average(1, y_true, y_pred, pos_label, average)


def f1_score(y_true, y_pred, pos_label=1, average="binary") -> float:
    """The harmonic mean of precision and recall (per class, then averaged for "macro")."""
    return _average(2, y_true, y_pred, pos_label, average)


def classification_report(y_true, y_pred) -> dict:
    """accuracy, precision, recall, f1 (binary for two classes 0/1, else macro) and the confusion matrix."""
    labels = np.unique(np.concatenate([np.ravel(y_true), np.ravel(y_pred)]))
    binary = len(labels) <= 2 and set(labels.tolist()) <= {0, 1}
    avg = "binary" if binary else "macro"
    return {"accuracy": accuracy(y_true, y_pred), "precision": precision(y_true, y_pred, average=avg),
            "recall": recall(y_true, y_pred, average=avg), "f1": f1_score(y_true, y_pred, average=avg),
            "confusion_matrix": confusion_matrix(y_true, y_pred)}


def rmse(y_true, y_pred) -> float:
    """√(mean (y − ŷ)²)."""
    y_true, y_pred = _labels(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true.astype(float) - y_pred) ** 2)))


def r2_score(y_true, y_pred) -> float:
    """1 − Σ(y − ŷ)² / Σ(y − ȳ)² (1 for a perfect fit; 0 for predicting the mean)."""
    y_true, y_pred = _labels(y_true, y_pred)
    y_true = y_true.astype(float)
    ss = float(np.sum((y_true - y_true.mean()) ** 2))
    if ss == 0:
        raise ValueError("r2_score: y_true is constant, R² is undefined")
    return 1.0 - float(np.sum((y_true - y_pred) ** 2)) / ss


def regression_report(y_true, y_pred) -> dict:
    """RMSE and R²."""
    return {"rmse": rmse(y_true, y_pred), "r2": r2_score(y_true, y_pred)}
