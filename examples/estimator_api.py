"""The estimator API, notebook style: fit, predict, score, inspect — scikit-learn conventions.

    .venv/bin/python examples/estimator_api.py            # FIRST-LAST-XOR, T = 10
    .venv/bin/python examples/estimator_api.py --quick    # smaller (what CI runs)
"""

import argparse

import numpy as np

import neurorecon as nr

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="fewer sequences and witnesses")
args = parser.parse_args()

# %% Data: a built-in task (or any X of shape (n, T, inputs) with non-negative integers, y labels).
data = nr.load_data("first-last-xor", T=10, n_train=400 if args.quick else 2000, n_test=200 if args.quick else 1000)
print(data.description, data.X_train.shape, "->", np.bincount(data.y_train))

# %% Fit: random calibrated witnesses on the loihi2 grid, group-Lasso readout, certified gap.
clf = nr.ReconstructionClassifier(profile="loihi2", readout="last", n_witnesses=150 if args.quick else 1000,
                                  column_generation_rounds=0 if args.quick else 1, seed=0)
clf.fit(data.X_train, data.y_train)

# %% Learned attributes end in an underscore: the chip Network and the training report.
print("network:", clf.network_.sizes, clf.network_.arithmetic)
print("hidden neurons selected:", clf.report_["n_hidden"], "of", clf.report_["dictionary_size"], "dictionary columns")
print("relative duality gap:", f"{clf.report_['duality_gap']:.1e}")
print("solver vs chip predictions (training set):", clf.report_["verification"]["solver_vs_chip_differences"],
      "differences")

# %% Predict and score run the integer network on the bit-exact emulator (what the chip computes).
print("test accuracy (chip arithmetic):", clf.score(data.X_test, data.y_test))
same = np.array_equal(clf.predict(data.X_test[:8]), nr.simulate(clf.network_, data.X_test[:8],
                                                                 n_steps=nr.readout_steps(clf.network_, 10)).final_v[-1].argmax(1))
print("predict() == argmax of the readout voltage after the pipeline delay:", same)
assert same
