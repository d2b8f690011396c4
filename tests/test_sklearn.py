"""symml.sklearn: scikit-learn's own estimator checks, the composition tools, and coefficients
against scikit-learn's estimators where both minimise the same objective.

``parametrize_with_checks`` runs scikit-learn's ``check_estimator`` suite on every estimator,
one test per check. The checks that do not apply are listed in :data:`EXPECTED_FAILED`, each
with its reason; scikit-learn then expects them to fail (and reports if one passes).

Coefficient agreement (maximum difference relative to scikit-learn's largest coefficient):
see :func:`test_coefficients_agree_with_scikit_learn`; each figure is asserted below 1e-6.
"""
import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn import linear_model as sk_linear
from sklearn import mixture as sk_mixture
from sklearn import naive_bayes as sk_nb
from sklearn import svm as sk_svm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import symml as sm
from symml import sklearn as S

pytestmark = pytest.mark.compile


def pseudo_huber():
    """A user's own loss (the pseudo-Huber regression loss with an L2 penalty), as a Derivation."""
    n, d = sm.dims("n d")
    X, y, w, b, delta = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,)), sm.scalar("b"), \
        sm.scalar("delta")
    r = X @ w + b - y
    loss = delta ** 2 * sm.sum(sm.sqrt(1 + (r / delta) ** 2) - 1) + sm.norm2(w) / 2
    return sm.Derivation("pseudo_huber", loss, params=[w, b], data=[X, y], hyper=[delta],
                         kernels=("loss", "grad", "value_and_grad", "hvp"))


def pseudo_huber_kernel():
    """The same loss as an sm.compile kernel with outputs loss, grad_w, grad_b."""
    d = pseudo_huber()
    w, b = d.params
    return sm.compile({"loss": d.loss, "grad_w": sm.grad(d.loss, w), "grad_b": sm.grad(d.loss, b)})


ESTIMATORS = [
    S.LogisticRegression(), S.SoftmaxRegression(), S.LinearSVC(), S.LinearSVC(dual=True), S.SVC(),
    S.MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=100, random_state=0),
    S.LinearRegression(), S.Ridge(), S.Lasso(alpha=0.01), S.ElasticNet(alpha=0.01), S.PoissonRegressor(),
    S.MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=100, random_state=0),
    S.GaussianNB(), S.GaussianMixture(),
    S.DerivationRegressor(model=pseudo_huber, hyper={"delta": 1.0}, method="L-BFGS-B"),
    S.DerivationRegressor(model=pseudo_huber_kernel, hyper={"delta": 1.0}),
]

#: checks that do not apply, by estimator; scikit-learn runs them expecting a failure
EXPECTED_FAILED = {
    "LinearRegression": {
        "check_sample_weight_equivalence_on_dense_data": "the check fits 30 features on 15 rows, where least "
                                                         "squares has no unique solution; the catalog's derived "
                                                         "normal equations need X of full column rank",
    },
}


def expected_failed(est):
    return EXPECTED_FAILED.get(type(est).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# ---------------------------------------------------------------- composition


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X, y


def test_pipeline_grid_search_and_cross_validation(cancer):
    X, y = cancer
    pipe = make_pipeline(StandardScaler(), S.LogisticRegression())
    search = GridSearchCV(pipe, {"logisticregression__C": [0.01, 0.1, 1.0]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.95 and search.best_params_["logisticregression__C"] in (0.01, 0.1, 1.0)
    scores = cross_val_score(make_pipeline(StandardScaler(), S.SVC()), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.9
    fitted = pickle.loads(pickle.dumps(search.best_estimator_))
    np.testing.assert_array_equal(fitted.predict(X), search.predict(X))


def test_estimators_and_results_render_in_jupyter(cancer):
    X, y = cancer
    est = S.Ridge(alpha=2.0)
    assert "Ridge" in est._repr_html_() and "alpha" in est._repr_html_()  # scikit-learn's estimator display
    est.fit(StandardScaler().fit_transform(X), y.astype(float))
    html = est.fit_result_._repr_html_()  # symml's own table of the fit
    assert "closed_form" in html and "<table" in html


def test_bad_parameters_fail_with_one_line():
    X, y = np.random.default_rng(0).normal(size=(20, 2)), np.r_[np.zeros(10), np.ones(10)]
    with pytest.raises(ValueError, match="C must be a positive number"):
        S.LogisticRegression(C=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="two positive ints"):
        S.MLPClassifier(hidden_layer_sizes=(8,)).fit(X, y)
    with pytest.raises(ValueError, match="activation must be one of"):
        S.MLPRegressor(activation="gelu").fit(X, y)
    with pytest.raises(ValueError, match="not \\(w, b\\); pass prediction="):
        S.DerivationRegressor(model="softmax_regression", hyper={"lam": 1.0}).fit(X, y).predict(X)


# ---------------------------------------------------------------- coefficients against scikit-learn


def _rel(ours, theirs):
    ours, theirs = np.ravel(ours), np.ravel(theirs)
    return float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-300))


def _standard(X):
    return StandardScaler().fit_transform(X)


def _pairs():
    X, y = load_breast_cancer(return_X_y=True)
    X = _standard(X)
    Xi, yi = load_iris(return_X_y=True)
    Xi = _standard(Xi)
    Xd, yd = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(0)
    Xp = rng.normal(size=(300, 4))
    yp = rng.poisson(np.exp(Xp @ np.array([0.3, -0.2, 0.1, 0.0]) + 0.5)).astype(float)
    sw = rng.uniform(0.2, 2.0, size=len(yd))
    two = np.flatnonzero(yi < 2)  # setosa against versicolor, for the SVMs
    return {
        "LogisticRegression": (S.LogisticRegression(C=0.5, tol=1e-12),
                               sk_linear.LogisticRegression(C=0.5, tol=1e-12, max_iter=10000, solver="newton-cholesky"), X, y, None),
        "LogisticRegression (multinomial)": (S.LogisticRegression(C=1.0, tol=1e-12),
                                             sk_linear.LogisticRegression(C=1.0, tol=1e-12, max_iter=10000, solver="newton-cholesky"),
                                             Xi, yi, None),
        "SoftmaxRegression": (S.SoftmaxRegression(C=1.0, tol=1e-12),
                              sk_linear.LogisticRegression(C=1.0, tol=1e-12, max_iter=10000, solver="newton-cholesky"), Xi, yi, None),
        "LinearSVC (dual)": (S.LinearSVC(C=1.0, dual=True, tol=1e-6), sk_svm.SVC(kernel="linear", C=1.0, tol=1e-10),
                             Xi[two][:, :2], yi[two], None),
        "SVC (RBF)": (S.SVC(C=1.0, gamma=0.5, tol=1e-6), sk_svm.SVC(C=1.0, gamma=0.5, tol=1e-10), Xi[two][:, 2:],
                      yi[two], None),
        "LinearRegression": (S.LinearRegression(), sk_linear.LinearRegression(), Xd, yd, None),
        "LinearRegression (weights)": (S.LinearRegression(), sk_linear.LinearRegression(), Xd, yd, sw),
        "Ridge": (S.Ridge(alpha=0.1), sk_linear.Ridge(alpha=0.1), Xd, yd, None),
        "Ridge (weights)": (S.Ridge(alpha=0.1), sk_linear.Ridge(alpha=0.1), Xd, yd, sw),
        "Lasso": (S.Lasso(alpha=0.1, tol=1e-14, max_iter=10**6), sk_linear.Lasso(alpha=0.1, tol=1e-14,
                                                                                   max_iter=10**6), Xd, yd, None),
        "Lasso (weights)": (S.Lasso(alpha=0.1, tol=1e-14, max_iter=10**6), sk_linear.Lasso(alpha=0.1, tol=1e-14,
                                                                                             max_iter=10**6),
                            Xd, yd, sw),
        "ElasticNet": (S.ElasticNet(alpha=0.1, l1_ratio=0.5, tol=1e-14, max_iter=10**6),
                       sk_linear.ElasticNet(alpha=0.1, l1_ratio=0.5, tol=1e-14, max_iter=10**6), Xd, yd, None),
        "ElasticNet (weights)": (S.ElasticNet(alpha=0.1, l1_ratio=0.5, tol=1e-14, max_iter=10**6),
                                 sk_linear.ElasticNet(alpha=0.1, l1_ratio=0.5, tol=1e-14, max_iter=10**6), Xd, yd,
                                 sw),
        "PoissonRegressor": (S.PoissonRegressor(alpha=0.05, tol=1e-12),
                             sk_linear.PoissonRegressor(alpha=0.05, tol=1e-12, max_iter=10000), Xp, yp, None),
        "GaussianNB": (S.GaussianNB(), sk_nb.GaussianNB(), Xi, yi, None),
        "GaussianNB (weights)": (S.GaussianNB(), sk_nb.GaussianNB(), Xi, yi, sw[:150]),
    }


PAIRS = _pairs()


def _coefficients(name, est):
    if name.startswith("SVC"):
        return est.decision_function  # compared by decision values: the two keep α in different layouts
    if name.startswith("GaussianNB"):
        return np.concatenate([est.theta_.ravel(), est.var_.ravel(), est.class_prior_])
    if name.startswith("LinearSVC") and hasattr(est, "support_"):
        return np.r_[est.coef_.ravel(), est.intercept_]
    coef, b = np.ravel(est.coef_), np.ravel(est.intercept_)
    if b.size > 1:
        b = b - b.mean()  # the softmax's intercepts are defined up to a common shift
    return np.r_[coef, b]


@pytest.mark.parametrize("name", list(PAIRS))
def test_coefficients_agree_with_scikit_learn(name):
    ours, theirs, X, y, sw = PAIRS[name]
    kw = {} if sw is None else {"sample_weight": sw}
    ours.fit(X, y, **kw)
    theirs.fit(X, y, **kw)
    a, b = _coefficients(name, ours), _coefficients(name, theirs)
    if callable(a):
        a, b = a(X), b(X)
    err = _rel(a, b)
    print(f"{name}: max relative difference {err:.2e}")
    assert err < 1e-6, (name, err)


def test_gaussian_mixture_em_agrees_with_scikit_learn():
    """The same start and the same number of EM iterations give the same mixture."""
    X, _ = load_iris(return_X_y=True)
    ours = S.GaussianMixture(3, max_iter=10, tol=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X)
        start = S.GaussianMixture(3, max_iter=0, tol=0.0, random_state=0).fit(X)
        theirs = sk_mixture.GaussianMixture(3, reg_covar=0.0, max_iter=10, tol=0.0, weights_init=start.weights_,
                                            means_init=start.means_, precisions_init=start.precisions_).fit(X)
    err = _rel(np.r_[ours.means_.ravel(), ours.covariances_.ravel(), ours.weights_],
               np.r_[theirs.means_.ravel(), theirs.covariances_.ravel(), theirs.weights_])
    print(f"GaussianMixture (10 EM iterations): max relative difference {err:.2e}")
    assert err < 1e-6
    assert abs(ours.score(X) - theirs.score(X)) < 1e-8
