"""A multilayer perceptron with two hidden layers, trained by backpropagation.

Forward pass (rows are samples; biases broadcast over rows):

    a1 = XW1 + 1b1ᵀ,   h1 = φ(a1),   a2 = h1W2 + 1b2ᵀ,   h2 = φ(a2),   z = h2W3 + 1b3ᵀ

with φ ∈ {tanh, relu, σ} elementwise, and a loss on the outputs z (n × K):

    squared error:          L = ½‖z − Y‖²_F,                 δ_z = z − Y
    softmax cross-entropy:  L = −Σᵢ Σ_k Y_ik log softmax(zᵢ)_k,  δ_z = softmax(z) − Y  (Y one-hot)

Backpropagation is the chain rule read from the output back, one δ per layer:

    δ_h2 = δ_z W3ᵀ,   δ_a2 = δ_h2 ⊙ φ'(a2),   δ_h1 = δ_a2 W2ᵀ,   δ_a1 = δ_h1 ⊙ φ'(a1)
    ∇_W3 = h2ᵀδ_z,  ∇_b3 = δ_zᵀ1,   ∇_W2 = h1ᵀδ_a2,  ∇_b2 = δ_a2ᵀ1,   ∇_W1 = Xᵀδ_a1,  ∇_b1 = δ_a1ᵀ1

φ' is 1 − tanh², σ(1 − σ), or the step 𝟙[a > 0] for relu (0 at the kink). The hvp
kernel is the gradient of ⟨∇L, v⟩ (reverse over reverse), never forming ∇²L.

Reference: Goodfellow, Bengio & Courville, Deep Learning, §6.5 (back-propagation).
"""
import symml as sm

n, d, h1, h2, K = sm.dims("n d h1 h2 K")
X, Y = sm.tensor("X", (n, d)), sm.tensor("Y", (n, K))
Y_onehot = sm.tensor("Y", (n, K), simplex=True)  # the softmax models' targets: Σ_k Y_ik = 1
W1, b1 = sm.tensor("W1", (d, h1)), sm.tensor("b1", (h1,))
W2, b2 = sm.tensor("W2", (h1, h2)), sm.tensor("b2", (h2,))
W3, b3 = sm.tensor("W3", (h2, K)), sm.tensor("b3", (K,))
ACTIVATIONS = {"tanh": sm.tanh, "relu": sm.relu, "sigmoid": sm.sigmoid}


def mlp(name, activation="tanh", loss="softmax"):
    """The Derivation of a two-hidden-layer MLP with activation φ and the given output loss."""
    phi = ACTIVATIONS[activation]
    a1 = sm.let("a1", X @ W1 + b1)
    a2 = sm.let("a2", sm.let("h1", phi(a1)) @ W2 + b2)
    z = sm.let("z", sm.let("h2", phi(a2)) @ W3 + b3)
    if loss == "squared":
        L, domains = sm.norm2(z - Y) / 2, {}
    else:
        L, domains = -sm.sum(Y_onehot * sm.log_softmax(z, axis=1)), {"Y": "onehot"}
    return sm.Derivation(
        name, L, params=[W1, b1, W2, b2, W3, b3], data=[X, Y if loss == "squared" else Y_onehot],
        kernels=("loss", "grad", "value_and_grad", "hvp"), domains=domains, decision=z,
        title=f"two-hidden-layer MLP, {activation} activations, "
              + ("squared error" if loss == "squared" else "softmax cross-entropy"),
    )


derivations = [mlp("mlp")] + [
    mlp(f"mlp_{act}_{loss}", act, loss) for act in ACTIVATIONS for loss in ("squared", "softmax")
]
