"""A small convolutional network: conv → relu → 2×2 max pool → dense → softmax cross-entropy.

Forward pass, for images X (N, C, H, W), kernels Kc (O, C, kh, kw) and one-hot Y (N, K):

    A = Kc ⋆ X + b      A[n,o,p,q] = Σ_{c,u,v} X[n,c,p+u,q+v] Kc[o,c,u,v] + b[o]
    R = relu(A)         (N, O, P, Q),   P = H − kh + 1,   Q = W − kw + 1    (valid, stride 1)
    S = maxpool₂(R)     (N, O, P₂, Q₂), P₂ = ⌊P/2⌋,      Q₂ = ⌊Q/2⌋        (a trailing odd row/column is dropped)
    z = Σ_{o,p,q} S[n,o,p,q] V[k,o,p,q] + c[k]                              (N, K)
    L = −Σₙ Σ_k Y[n,k] log softmax(zₙ)_k

Backpropagation:

    δ_z = softmax(z) − Y,   ∇_V = Σₙ δ_z[n,k] S[n,o,p,q],   ∇_c = δ_zᵀ1
    δ_S[n,o,p,q] = Σ_k δ_z[n,k] V[k,o,p,q]
    δ_R = unpool(δ_S): each δ_S entry goes to the argmax of its 2×2 window of R, 0 elsewhere
    δ_A = δ_R ⊙ 𝟙[A > 0],   ∇_b[o] = Σ_{n,p,q} δ_A[n,o,p,q]
    ∇_Kc[o,c,u,v] = Σ_{n,p,q} X[n,c,p+u,q+v] δ_A[n,o,p,q]      the correlation of the input with δ_A
    ∇_X[n,c,i,j] = Σ_{o,u,v} δ_A[n,o,i−u,j−v] Kc[o,c,u,v]       a full convolution of δ_A with Kc flipped

(⋆ is cross-correlation, as in deep-learning libraries.) In the graph these are the Conv
node's slots "k" and "x" of the one trilinear form Σ X[n,c,p+u,q+v] Kc[o,c,u,v] A[n,o,p,q];
X is data here, so only ∇_Kc is emitted. Kinks of relu and ties of the max are measure
zero: the kernels use the step 𝟙[A > 0] and the first argmax.

Reference: Goodfellow, Bengio & Courville, Deep Learning, §9.5 (the gradients of convolution).
"""
import sympy

import symml as sm

N, C, H, W, O, kh, kw, K = sm.dims("N C H W O kh kw K")
P2, Q2 = sympy.floor((H - kh + 1) / 2), sympy.floor((W - kw + 1) / 2)
X, Y = sm.tensor("X", (N, C, H, W)), sm.tensor("Y", (N, K), simplex=True)  # one-hot rows
Kc, b = sm.tensor("Kc", (O, C, kh, kw)), sm.tensor("b", (O,))
V, c = sm.tensor("V", (K, O, P2, Q2)), sm.tensor("c", (K,))

A = sm.let("A", sm.conv2d(X, Kc) + sm.expand_dims(sm.expand_dims(b, 1), 2))
S = sm.let("S", sm.maxpool2d(sm.let("R", sm.relu(A)), 2))
z = sm.let("z", sm.einsum("nopq,kopq->nk", S, V) + c)
loss = -sm.sum(Y * sm.log_softmax(z, axis=1))

derivation = sm.Derivation(
    "cnn", loss, params=[Kc, b, V, c], data=[X, Y],
    kernels=("loss", "grad", "value_and_grad"), domains={"Y": "onehot"},
    title="conv → relu → 2×2 max pool → dense, softmax cross-entropy",
)
