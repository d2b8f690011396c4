"""The end-to-end pipeline of the curriculum, on scikit-learn's bundled breast-cancer data.

    missing values → imputation → seeded, stratified split → standardisation
    → logistic regression fitted with symml's Newton method (and, for comparison, Adam
      on mini-batches) → accuracy, precision, recall, F1 and the confusion matrix

The data set has no missing values, so 3% of the entries are knocked out (seeded) to show
the imputer at work. Every statistic (medians, means, scales) is learnt on the training rows
only and then applied to the test rows. The model is the catalog's logistic_regression,
L(w, b) = Σᵢ [softplus(zᵢ) − yᵢzᵢ] + (λ/2)‖w‖², z = Xw + b (scikit-learn's
LogisticRegression(C=1/λ) minimises the same function).

Run it with ``PYTHONPATH=. python examples/pipeline_breast_cancer.py``; it takes a few
seconds (numba compiles the kernels once and caches them on disk).
"""
import numpy as np

from symml.optim import (Imputer, StandardScaler, classification_report, fit, load_dataset,
                         train_test_split)


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # σ(z) without overflow


def main(seed: int = 0, verbose: bool = True) -> dict:
    X, y, columns = load_dataset("breast_cancer")  # (569, 30), labels 0 = malignant, 1 = benign
    rng = np.random.default_rng(seed)
    X[rng.random(X.shape) < 0.03] = np.nan  # simulate missing measurements

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=seed, stratify=y)
    imputer = Imputer("median").fit(X_train)
    scaler = StandardScaler().fit(imputer.transform(X_train))
    X_train, X_test = (scaler.transform(imputer.transform(A)) for A in (X_train, X_test))

    reports = {}
    for method, options in (("newton", {}), ("adam", {"lr": 0.01, "batch_size": 32, "max_iter": 50})):
        result = fit("logistic_regression", (X_train, y_train), method=method, lam=1.0, columns=columns,
                     **options)
        w, b = result.params["w"], result.params["b"]
        predicted = (sigmoid(X_test @ w + b) >= 0.5).astype(int)
        reports[method] = report = classification_report(y_test, predicted)
        if verbose:
            print(f"{method}: {result.message}; training loss {result.loss:.4f}")
            print("  accuracy {accuracy:.3f}  precision {precision:.3f}  recall {recall:.3f}  f1 {f1:.3f}".format(
                **report))
            print("  confusion matrix (rows: true 0/1, columns: predicted 0/1):")
            print("  " + str(report["confusion_matrix"]).replace("\n", "\n  "))
    return reports


if __name__ == "__main__":
    main()
