"""Gaussian naive Bayes: the joint log-likelihood of labelled data, and its closed-form MLE.

With one-hot labels Y (n, K), features X (n, d), class means M and variances V (K, d) and
class priors π on the simplex:

    ℓ = Σᵢ Σ_k Y_ik [log π_k + Σ_j log N(x_ij | μ_kj, v_kj)],   L = −ℓ,   log π = log_softmax(a)
    ∂L/∂μ_kj = −Σᵢ Y_ik (x_ij − μ_kj)/v_kj,   ∂L/∂v_kj = Σᵢ Y_ik [1/(2v_kj) − (x_ij − μ_kj)²/(2v_kj²)]
    ∂L/∂a_k = n π_k − N_k,   N_k = Σᵢ Y_ik

The priors are parametrised by logits a (K,) so that the loss and its gradient live on an
unconstrained space (finite differences and gradient methods need no projection). The MLE is
derived on the simplex itself, with a Lagrange multiplier ν by hand: maximise
Σ_k N_k log π_k − ν(Σ_k π_k − 1), solve the stationarity entrywise for π_k(ν) = N_k/ν, then the
constraint for ν = Σ_k N_k. Means and variances solve ∂ℓ/∂M = 0 entrywise, then ∂ℓ/∂V = 0 with
M̂ substituted:

    π̂_k = N_k / n,   μ̂_kj = Σᵢ Y_ik x_ij / N_k,   v̂_kj = Σᵢ Y_ik (x_ij − μ̂_kj)² / N_k

scikit-learn: ``GaussianNB(var_smoothing=0)`` has class_prior_ = π̂, theta_ = M̂, var_ = V̂.

Reference: Murphy, Machine Learning: A Probabilistic Perspective, §3.5 (naive Bayes classifiers) and
§4.2 (Gaussian discriminant analysis, whose MLE this is with diagonal class covariances).
"""
import symml as sm
from symml.probability import normal_logpdf
from symml.reparam import log_priors

n, d, K = sm.dims("n d K")
X, Y = sm.tensor("X", (n, d)), sm.tensor("Y", (n, K))
M, V = sm.tensor("M", (K, d)), sm.tensor("V", (K, d))
a, pi, nu = sm.tensor("a", (K,)), sm.tensor("pi", (K,)), sm.scalar("nu")


def log_likelihood(log_prior):
    """Σᵢ Σ_k Y_ik [log π_k + Σ_j log N(x_ij | μ_kj, v_kj)]."""
    log_class = sm.sum(normal_logpdf(sm.expand_dims(X, 1), M, V), axis=2)  # (n, K)
    return sm.sum(Y * (log_prior + log_class))


loss = -log_likelihood(sm.log_softmax(a))

ll = log_likelihood(sm.log(pi))
pi_of_nu = sm.solve_entrywise(sm.grad(ll - nu * (sm.sum(pi) - 1), pi), pi)  # π_k(ν) = N_k / ν
pi_hat = sm.substitute(pi_of_nu, {nu: sm.solve_scalar(sm.sum(pi_of_nu) - 1, nu)})
M_hat = sm.solve_entrywise(sm.grad(ll, M), M)
V_hat = sm.solve_entrywise(sm.substitute(sm.grad(ll, V), {M: M_hat}), V)
closed_forms = {"priors": pi_hat, "means": M_hat, "variances": V_hat}

derivation = sm.Derivation(
    "gaussian_naive_bayes", loss, params=[M, V, a], data=[X, Y],
    kernels=("loss", "grad", "value_and_grad"), domains={"V": "positive", "Y": "onehot"},
    extra={"mle": (pi_hat, M_hat, V_hat)},
    # the MLE solves for π̂; the loss reads logits a = log π̂
    params_from_solution=lambda priors, means, variances: {"M": means, "V": variances, "a": log_priors(priors)},
    notes={"mle": "(π̂, M̂, V̂), the maximum-likelihood priors, class means and class variances, solved from\n"
                  "the stationarity of the log-likelihood (priors by a Lagrange multiplier on the simplex).\n"
                  "sklearn.naive_bayes.GaussianNB(var_smoothing=0): class_prior_, theta_, var_.\n"
                  "Every class needs at least one sample (the estimates divide by class counts)."},
    title="Gaussian naive Bayes, joint negative log-likelihood and closed-form MLE",
)
