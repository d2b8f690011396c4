"""scikit-learn estimators for the catalog's models and for any symml loss (the extra ``sklearn``).

Each estimator fits with symml's own machinery (:func:`symml.optim.fit`, the generated kernels,
the derived closed forms) and follows scikit-learn's conventions: parameters in ``__init__``,
``get_params``/``set_params``, ``fit``/``predict``/``score``, learned attributes with a trailing
underscore. They pass scikit-learn's ``check_estimator`` (tests/test_sklearn.py) and work in
Pipeline, GridSearchCV and cross_val_score. Each docstring maps its hyper-parameter onto the
scikit-learn estimator of the same name (C against λ, sums against means).

=====================  ============================  ==========================================
estimator              catalog model                 fitted by
=====================  ============================  ==========================================
LogisticRegression     logistic_regression (K = 2),  Newton
                       softmax_regression (K > 2)
SoftmaxRegression      softmax_regression            Newton
LinearSVC              svm_primal / svm_dual         Newton (primal) / SMO on the dual's Hessian
SVC                    svm_dual_rbf                  SMO on the kernelized dual's Hessian
MLPClassifier          mlp_<activation>_softmax      Adam
LinearRegression       least_squares                 the derived normal equations
Ridge                  ridge                         the derived closed form
Lasso, ElasticNet      lasso, elastic_net            FISTA with the prox_step kernel
PoissonRegressor       poisson_regression            Newton
MLPRegressor           mlp_<activation>_squared      Adam
GaussianNB             gaussian_naive_bayes          the derived MLE
GaussianMixture        gaussian_mixture              the derived EM step
DerivationRegressor    any Derivation or             sm.fit / L-BFGS-B
                       sm.compile kernel
=====================  ============================  ==========================================

>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> make_pipeline(StandardScaler(), LogisticRegression(C=0.5))
Pipeline(steps=[('standardscaler', StandardScaler()),
                ('logisticregression', LogisticRegression(C=0.5))])

Takes: X, y as scikit-learn passes them. Gives: fitted estimators.
"""
try:
    import sklearn  # noqa: F401 - the extra is installed
except ImportError:  # pragma: no cover - the extra is missing
    raise ImportError("symml.sklearn needs scikit-learn: pip install 'symml[sklearn]'") from None

from .generic import DerivationRegressor
from .linear import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LinearSVC,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    SoftmaxRegression,
)
from .neural import MLPClassifier, MLPRegressor
from .probabilistic import GaussianMixture, GaussianNB
from .svm import SVC

__all__ = ["LogisticRegression", "SoftmaxRegression", "LinearSVC", "SVC", "MLPClassifier", "LinearRegression",
           "Ridge", "Lasso", "ElasticNet", "PoissonRegressor", "MLPRegressor", "GaussianNB", "GaussianMixture",
           "DerivationRegressor"]
