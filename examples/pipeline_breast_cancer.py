"""The end-to-end pipeline of the curriculum, on scikit-learn's bundled breast-cancer data.

    missing values → scikit-learn's SimpleImputer → seeded, stratified split → StandardScaler
    → logistic regression fitted by symml (symml.sklearn.LogisticRegression: Newton's method
      on the catalog's kernels), its C chosen by GridSearchCV; for comparison, Adam on
      mini-batches through sm.fit → accuracy, precision, recall, F1 and the confusion matrix
      from sklearn.metrics

The data set has no missing values, so 3% of the entries are knocked out (seeded) to show
the imputer at work. The Pipeline learns every statistic (medians, means, scales) on the
training rows only, also inside each cross-validation fold. The model is the catalog's
logistic_regression, L(w, b) = Σᵢ [softplus(zᵢ) − yᵢzᵢ] + (λ/2)‖w‖², z = Xw + b, with
λ = 1/C (scikit-learn's LogisticRegression(C) minimises C·L).

Run it with ``PYTHONPATH=. python examples/pipeline_breast_cancer.py``; it takes a few
seconds (numba compiles the kernels once and caches them on disk).
"""
import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from symml.optim import fit, load_dataset
from symml.sklearn import LogisticRegression


def report(y_true, y_pred) -> dict:
    return {"accuracy": accuracy_score(y_true, y_pred), "precision": precision_score(y_true, y_pred),
            "recall": recall_score(y_true, y_pred), "f1": f1_score(y_true, y_pred),
            "confusion_matrix": confusion_matrix(y_true, y_pred)}


def main(seed: int = 0, verbose: bool = True) -> dict:
    X, y, columns = load_dataset("breast_cancer")  # (569, 30), labels 0 = malignant, 1 = benign
    rng = np.random.default_rng(seed)
    X[rng.random(X.shape) < 0.03] = np.nan  # simulate missing measurements
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)

    pipe = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression())
    search = GridSearchCV(pipe, {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}, cv=5).fit(X_train, y_train)
    reports = {"newton": report(y_test, search.predict(X_test))}
    model = search.best_estimator_[-1]
    messages = {"newton": f"C = {model.C} by 5-fold GridSearchCV; {model.fit_result_.message}"}

    # the same model by Adam on mini-batches, on the same imputed and scaled rows (sm.fit takes arrays)
    prep = make_pipeline(SimpleImputer(strategy="median"), StandardScaler()).fit(X_train)
    result = fit("logistic_regression", (prep.transform(X_train), y_train), method="adam", lam=1 / model.C,
                 columns=columns, lr=0.01, batch_size=32, max_iter=50)
    z = prep.transform(X_test) @ result.params["w"] + result.params["b"]
    reports["adam"], messages["adam"] = report(y_test, (z > 0).astype(int)), result.message

    if verbose:
        for method, r in reports.items():
            print(f"{method}: {messages[method]}")
            print("  accuracy {accuracy:.3f}  precision {precision:.3f}  recall {recall:.3f}  f1 {f1:.3f}".format(**r))
            print("  confusion matrix (rows: true 0/1, columns: predicted 0/1):")
            print("  " + str(r["confusion_matrix"]).replace("\n", "\n  "))
    return reports


if __name__ == "__main__":
    main()
