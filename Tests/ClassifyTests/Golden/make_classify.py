"""Reference results for ClassifyTests, computed with scikit-learn on its digits data set.
Run:  .cache/venv/bin/python Tests/ClassifyTests/Golden/make_classify.py
Writes beside this script:
    digits.u8        1797 rows of 65 bytes: 64 pixels in 0..16, then the label 0..9
    reference.json   the split, folds, scaler statistics and scikit-learn's results (see keys below)
Tolerances are stated in the tests that read these files (ClassifyTests/*.swift)."""
import json, os, warnings
import numpy as np
from sklearn.datasets import load_digits
from sklearn.svm import LinearSVC
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.preprocessing import StandardScaler, normalize
from sklearn import metrics

here = os.path.dirname(os.path.abspath(__file__))
digits = load_digits()
pixels = digits.data.astype(np.uint8)          # 0..16
y = digits.target.astype(np.int64)
np.concatenate([pixels, y[:, None].astype(np.uint8)], axis=1).tofile(os.path.join(here, "digits.u8"))
X = digits.data / 16.0

# Fixed split, as scripts/make_digits.py: every fourth image of each class is held out.
seen = {}
test = np.zeros(len(y), bool)
for i, label in enumerate(y):
    k = seen.get(label, 0); seen[label] = k + 1
    test[i] = k % 4 == 3
tr, te = ~test, test
folds = StratifiedKFold(n_splits=5)             # no shuffle: deterministic, reproduced in Swift
test_folds = np.zeros(len(y), int)
for f, (_, idx) in enumerate(folds.split(X, y)):
    test_folds[idx] = f

from sklearn.utils.class_weight import compute_class_weight
ref = {"test_indices": np.flatnonzero(te).tolist(), "stratified_5fold": test_folds.tolist(),
       "nonzeros": int(np.count_nonzero(X)),
       "balanced_weights_train": compute_class_weight("balanced", classes=np.arange(10), y=y[tr]).tolist()}

# LinearSVC = liblinear -s 1 (l2r_l2loss_svc_dual) with bias 1 (intercept_scaling=1).
C_svc = 0.1
svc = LinearSVC(C=C_svc, loss="squared_hinge", penalty="l2", dual=True, random_state=0, max_iter=10000)
svc.fit(X[tr], y[tr])
ref["linear_svc"] = {
    "C": C_svc,
    "test_accuracy": float(svc.score(X[te], y[te])),
    "cv5_accuracy": float(cross_val_score(LinearSVC(C=C_svc, dual=True, random_state=0, max_iter=10000), X, y, cv=folds).mean()),
    # liblinear's cross_validation shuffles; digits are ordered by writer, so compare with shuffled folds.
    "cv5_shuffled_accuracy": float(cross_val_score(LinearSVC(C=C_svc, dual=True, random_state=0, max_iter=10000), X, y,
                                                   cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean()),
}
y_pred_svc = svc.predict(X[te])

# liblinear -s 0 (l2r_lr) is one-vs-rest logistic regression with a penalised bias.
C_lr = 1.0
ovr = OneVsRestClassifier(LogisticRegression(C=C_lr, solver="liblinear", tol=1e-4)).fit(X[tr], y[tr])
ref["liblinear_lr"] = {"C": C_lr, "test_accuracy": float(ovr.score(X[te], y[te]))}

# Softmax: multinomial LogisticRegression (lbfgs), unpenalised intercept, converged tightly.
C_soft = 1.0
lr = LogisticRegression(C=C_soft, solver="lbfgs", tol=1e-10, max_iter=10000).fit(X[tr], y[tr])
ref["softmax"] = {
    "C": C_soft,
    "test_accuracy": float(lr.score(X[te], y[te])),
    "cv5_accuracy": float(cross_val_score(LogisticRegression(C=C_soft, tol=1e-8, max_iter=10000), X, y, cv=folds).mean()),
    "test_proba": np.round(lr.predict_proba(X[te]), 7).tolist(),
}

# Normalisations: StandardScaler (population std, constant features scaled by 1) and row L2.
sc = StandardScaler().fit(X[tr])
ref["standard_scaler"] = {"mean": sc.mean_.tolist(), "scale": sc.scale_.tolist()}
ref["l2_rows_0_3"] = normalize(X[:3]).tolist()

# Metrics on a fixed, deliberately imperfect prediction vector: 20% of LinearSVC's test predictions
# replaced at random, and class 9 never predicted (precision 0/0 -> 0, scikit-learn's zero_division).
rng = np.random.default_rng(0)
y_true = y[te]
y_pred = y_pred_svc.copy()
flip = rng.random(len(y_pred)) < 0.2
y_pred[flip] = rng.integers(0, 10, flip.sum())
y_pred[y_pred == 9] = 8
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    p, r, f1, s = metrics.precision_recall_fscore_support(y_true, y_pred, labels=range(10), zero_division=0)
    mp, mr, mf, _ = metrics.precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    wp, wr, wf, _ = metrics.precision_recall_fscore_support(y_true, y_pred, average="weighted", zero_division=0)
ref["metrics"] = {
    "y_true": y_true.tolist(), "y_pred": y_pred.tolist(),
    "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
    "precision": p.tolist(), "recall": r.tolist(), "f1": f1.tolist(), "support": s.tolist(),
    "macro": [mp, mr, mf], "weighted": [wp, wr, wf],
    "confusion": metrics.confusion_matrix(y_true, y_pred, labels=range(10)).tolist(),
}

with open(os.path.join(here, "reference.json"), "w") as f:
    json.dump(ref, f)
print({k: v for k, v in ref["linear_svc"].items()}, ref["liblinear_lr"],
      {k: v for k, v in ref["softmax"].items() if k != "test_proba"}, "n_iter", lr.n_iter_)
