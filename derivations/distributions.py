"""Maximum likelihood for five distributions: score, Fisher information and the MLE, derived.

For an i.i.d. sample x = (x₁, …, xₙ) the loss is the negative log-likelihood and its gradient the
negated score:

    L(θ) = −Σᵢ log p(xᵢ | θ),   ∇L = −Σᵢ ∇_θ log p(xᵢ | θ),   I(θ) = E[∇²L] / n (per observation)

    Bernoulli(p)      log p = x log p + (1 − x) log(1 − p)            p̂ = x̄          I = 1/(p(1 − p))
    Binomial(m, p)    log p = log C(m, x) + x log p + (m − x) log(1 − p)   p̂ = x̄/m    I = m/(p(1 − p))
    Poisson(λ)        log p = x log λ − λ − log x!                     λ̂ = x̄          I = 1/λ
    Normal(μ, σ²)     log p = −½ log(2πσ²) − (x − μ)²/(2σ²)            μ̂ = x̄, σ̂² = Σᵢ(xᵢ − x̄)²/n
                                                                       I = diag(1/σ², 1/(2σ⁴))
    Exponential(r)    log p = log r − r x                              r̂ = 1/x̄        I = 1/r²

Nothing in the right-hand columns is typed in: the MLE solves the score equation ∇L = 0 with
``sm.solve_scalar`` (for the Normal, μ first, then σ² with μ̂ substituted), and the Fisher information
is the symbolic Hessian with each sum Σᵢ m(xᵢ) replaced by n·E[m(x)] (``symml.probability.expectation``,
from E[x] and E[x²] of each distribution), divided by n. The Binomial's m (trials) is known; its
sample is declared binary for ``symml check``, which draws m from (0.5, 2): counts must not exceed m.

Reference: Casella & Berger, Statistical Inference, §7.2.2 (MLE) and §7.3.2 (Fisher information).
"""
import symml as sm
from symml.probability import fisher_information, loggamma, normal_logpdf

n = sm.dims("n")
x = sm.tensor("x", (n,))
p, m, lam, rate = sm.scalar("p"), sm.scalar("m"), sm.scalar("lam"), sm.scalar("rate")
mu, sigma2 = sm.scalar("mu"), sm.scalar("sigma2")


def mle(loss, params):
    """Solve ∂L/∂θ = 0 for each θ in turn, substituting the earlier solutions."""
    hat = {}
    for theta in params:
        hat[theta] = sm.solve_scalar(sm.substitute(sm.grad(loss, theta), hat), theta)
    return tuple(hat.values())


def family(name, logpdf, params, moments, domains, hyper=()):
    loss = -sm.sum(logpdf)
    found = {"mle": mle(loss, params), "fisher": fisher_information(loss, params, x, moments)}
    closed_forms[name] = found
    return sm.Derivation(
        name, loss, params=params, data=[x], hyper=list(hyper), domains=domains,
        kernels=("loss", "grad", "value_and_grad", "hessian"),
        extra={"mle": found["mle"] if len(params) > 1 else found["mle"][0], "fisher": found["fisher"]},
        notes={"mle": "The maximum-likelihood estimate, solved from the score equation ∇L = 0.",
               "fisher": "The Fisher information of one observation, E[∇²L]/n"
                         + (", as the blocks (μμ, μσ², σ²μ, σ²σ²)." if len(params) > 1 else ".")},
        title=f"{name.split('_')[1].capitalize()} maximum likelihood: score, Fisher information, MLE",
    )


closed_forms = {}
derivations = [
    family("distribution_bernoulli", x * sm.log(p) + (1 - x) * sm.log(1 - p), [p], {1: p, 2: p},
           {"x": "binary", "p": "unit"}),
    family("distribution_binomial",
           loggamma(m + 1) - loggamma(x + 1) - loggamma(m - x + 1) + x * sm.log(p) + (m - x) * sm.log(1 - p),
           [p], {1: m * p, 2: m * p * (1 - p) + (m * p) ** 2}, {"x": "binary", "p": "unit"}, hyper=[m]),
    family("distribution_poisson", x * sm.log(lam) - lam - loggamma(x + 1), [lam], {1: lam, 2: lam + lam**2},
           {"x": "count", "lam": "positive"}),
    family("distribution_normal", normal_logpdf(x, mu, sigma2), [mu, sigma2], {1: mu, 2: sigma2 + mu**2},
           {"sigma2": "positive"}),
    family("distribution_exponential", sm.log(rate) - rate * x, [rate], {1: 1 / rate, 2: 2 / rate**2},
           {"x": "positive", "rate": "positive"}),
]
