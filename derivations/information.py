"""Entropy, cross-entropy and KL divergence: categorical (from logits) and Gaussian.

Categorical, one distribution per row of the logits a, c (n, K): p = softmax(a), q = softmax(c),
computed through log_softmax so that no probability underflows to log 0:

    H(p)     = −Σᵢ Σ_k p_ik log p_ik                        ∇_a H = −p ⊙ (log p − Σ_k p log p)
    H(p, q)  = −Σᵢ Σ_k p_ik log q_ik                        ∇_c H(p, q) = q − p
    KL(p‖q)  = Σᵢ Σ_k p_ik (log p_ik − log q_ik)            ∇_c KL = q − p,  ∇_a KL = p ⊙ (r − Σ_k p r)

(all summed over the n rows; r = log p − log q). Gaussian, N₀ = N(μ₀, Σ₀) and N₁ = N(μ₁, Σ₁) in d dimensions:

    KL(N₀‖N₁) = ½ [tr(Σ₁⁻¹Σ₀) + (μ₁ − μ₀)ᵀΣ₁⁻¹(μ₁ − μ₀) − d + log det Σ₁ − log det Σ₀]
    ∇_μ₀ = Σ₁⁻¹(μ₀ − μ₁),   ∇_Σ₀ = ½(Σ₁⁻¹ − Σ₀⁻¹),   ∇_Σ₁ = ½(Σ₁⁻¹ − Σ₁⁻¹[Σ₀ + δδᵀ]Σ₁⁻¹), δ = μ₁ − μ₀

The gradients w.r.t. Σ₀, Σ₁ are taken entrywise over the full matrices (no symmetry imposed): at
a non-symmetric point the inverses above appear transposed (Σ⁻ᵀ); at symmetric Σ they are as written.

Reference: Cover & Thomas, Elements of Information Theory, §2.1–2.3; Rasmussen & Williams, Gaussian
Processes for Machine Learning, §A.5 (KL divergence of Gaussians).
"""
import symml as sm

n, K, d = sm.dims("n K d")
a, c = sm.tensor("a", (n, K)), sm.tensor("c", (n, K))
log_p = sm.let("log_p", sm.log_softmax(a, axis=1))
log_q = sm.let("log_q", sm.log_softmax(c, axis=1))
p = sm.let("p", sm.exp(log_p))

mu0, mu1 = sm.tensor("mu0", (d,)), sm.tensor("mu1", (d,))
S0, S1 = sm.tensor("S0", (d, d)), sm.tensor("S1", (d, d))
delta = mu1 - mu0
P1 = sm.inv(S1)
kl_gauss = (sm.trace(P1 @ S0) + delta @ P1 @ delta - d + sm.logdet(S1) - sm.logdet(S0)) / 2

kernels = ("loss", "grad", "value_and_grad", "hessian", "hvp")
derivations = [
    sm.Derivation("entropy_categorical", -sm.sum(p * log_p), params=[a], kernels=kernels,
                  title="entropy H(softmax(a)) of categorical rows, summed"),
    sm.Derivation("cross_entropy_categorical", -sm.sum(p * log_q), params=[a, c], kernels=kernels,
                  title="cross-entropy H(softmax(a), softmax(c)) of categorical rows, summed"),
    sm.Derivation("kl_categorical", sm.sum(p * (log_p - log_q)), params=[a, c], kernels=kernels,
                  title="KL(softmax(a) ‖ softmax(c)) of categorical rows, summed"),
    sm.Derivation("kl_gaussian", kl_gauss, params=[mu0, S0, mu1, S1], kernels=("loss", "grad", "value_and_grad"),
                  domains={"S0": "spd", "S1": "spd"},
                  title="KL(N(μ₀, Σ₀) ‖ N(μ₁, Σ₁)) between multivariate Gaussians"),
]
