"""The estimator API, notebook style: fit, predict, score, inspect — scikit-learn conventions.

    .venv/bin/python examples/estimator_api.py            # FIRST-LAST-XOR, T = 10
    .venv/bin/python examples/estimator_api.py --quick    # smaller (what CI runs)
"""

import argparse

import numpy as np
from sklearn.base import clone

import neurorecon as nr

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="fewer sequences and witnesses")
args = parser.parse_args()

# %% Data: a built-in task (or any X of shape (n, T, inputs) with non-negative integers, y labels).
data = nr.load_data("first-last-xor", T=10, n_train=400 if args.quick else 2000, n_test=200 if args.quick else 1000)
print(data.description, data.X_train.shape, "->", np.bincount(data.y_train))
names = np.array(["equal", "differ"])  # labels may be anything: strings, non-contiguous integers
y_train, y_test = names[data.y_train], names[data.y_test]

# %% Fit: random calibrated witnesses on the loihi2 grid, group-Lasso readout, certified gap.
clf = nr.ReconstructionClassifier(profile="loihi2", readout="last", n_witnesses=150 if args.quick else 1000,
                                  column_generation_rounds=0 if args.quick else 1, seed=0)
print("a scikit-learn estimator:", clone(clf).set_params(seed=1).get_params()["seed"] == 1)
clf.fit(data.X_train, y_train)

# %% Learned attributes end in an underscore: the chip Network and the training report.
print("classes:", clf.classes_, "input channels per step:", clf.n_features_in_)
print("network:", clf.network_.sizes, clf.network_.arithmetic)
print("hidden neurons selected:", clf.report_["n_hidden"], "of", clf.report_["dictionary_size"], "dictionary columns")
print("relative duality gap:", f"{clf.report_['duality_gap']:.1e}")
print("solver vs chip predictions (training set):", clf.report_["verification"]["solver_vs_chip_differences"],
      "differences")

# %% Predict and score run the integer network on the bit-exact emulator (what the chip computes).
print("test accuracy (chip arithmetic):", clf.score(data.X_test, y_test))
voltage = nr.simulate(clf.network_, data.X_test[:8], n_steps=nr.readout_steps(clf.network_, 10)).final_v[-1]
same = np.array_equal(clf.predict(data.X_test[:8]), clf.classes_[voltage.argmax(1)])
print("predict() == the class of the largest readout voltage after the pipeline delay:", same)
assert same
