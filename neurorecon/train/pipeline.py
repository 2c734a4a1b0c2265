"""Train on a Dataset and measure the chip network: what ``neurorecon train`` (and the demo) run.

Methods:
  ``cvx``    parameter reconstruction on the chip's grid: random witnesses, then column generation
             with pricing (candidates trained against the dual point; ``search="random"``: the
             paper's CVX, random candidates only);
  ``sg-cvx`` the paper's hybrid: witnesses from a surrogate-gradient (Norse) network quantized to
             the chip, with a convex readout fitted on their exact spikes;
  ``sg``     the peers' usual path: surrogate-gradient training in float, then post-training
             quantization (the baseline) at ``weight_bits``; with ``qat`` the training is
             quantization-aware (fake-quantized weights, straight-through estimator), as lava-dl
             users train for Loihi.
``fine_tune`` (cvx, sg-cvx): SG fine-tuning of the reconstructed network, re-quantization and a
convex re-fit of the readout.

``sg-cvx`` keeps the SG network itself (hidden layer and its own readout, after PTQ) when that is
at least as accurate on the validation split as the convex readout: never below SG + PTQ there.

``test_accuracy`` is always the accuracy of the final network in the profile's arithmetic, from
the bit-exact emulator, i.e. what the chip computes; ``float_test_accuracy`` is the float model's
where one exists (``sg`` before quantization; for ``cvx``/``sg-cvx`` the real-valued convex readout
on the chip's exact hidden spikes).
"""

from __future__ import annotations

import time
import numpy as np

from neurorecon._progress import ProgressOption
from neurorecon.data.dataset import Dataset, check_seed
from neurorecon.errors import NeuroreconError
from neurorecon.network import Network
from neurorecon.profiles import load_profile
from neurorecon.simulate import LAVA_TIMEOUT, with_tail
from neurorecon.simulate.predict import predict_network
from neurorecon.train.blocks import peak_resident_memory
from neurorecon.train.convex.classifier import ReconstructionClassifier
from neurorecon.train.convex.integer_readout import _row_features
from neurorecon.readout import Readout
from neurorecon.train.convex.reconstruct import hidden_raster

METHODS = ("cvx", "sg-cvx", "sg")


def float_model_name(method: str) -> str:
    """What ``float_test_accuracy`` measures for ``method`` (two different "float" models exist:
    this one, and the dequantized chip network the report also shows)."""
    if method == "sg":
        return "float SG network, before quantization"
    return "real-valued convex readout, before integer rounding"
SG_PARAMS = ("sg_hidden", "sg_epochs", "sg_recurrent", "sg_lr")


def split_accuracy(net: Network, X: np.ndarray, y: np.ndarray, backend: str = "emulator",
                   progress: ProgressOption = None, timeout: float = LAVA_TIMEOUT) -> dict:
    """Accuracy of a classifier Network on one split (token-wise for per-step labels)."""
    if len(y) and int(np.max(y)) >= net.n_outputs:
        raise NeuroreconError(f"the labels go up to {int(np.max(y))} ({int(np.max(y)) + 1} classes) but the network "
                              f"has {net.n_outputs} outputs: this data is not the task the network was trained on")
    pred = predict_network(net, X, backend=backend, progress=progress, timeout=timeout)
    out = {"accuracy": float((pred == y).mean()), "n_samples": int(X.shape[0])}
    if y.ndim == 2:
        out["token_accuracy"] = out["accuracy"]
        out["sequence_accuracy"] = float((pred == y).all(axis=1).mean())
    return out


def float_readout_accuracy(net: Network, solution: dict, X: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of the real-valued convex readout on the chip network's exact hidden spikes."""
    readout = Readout(net.metadata["readout"])
    X = with_tail(net, X)
    raster = hidden_raster(net.layers[:-1], X, net.arithmetic)
    features = _row_features(raster, readout, X.shape[1], net.n_layers - 2)
    pred = (features @ solution["W"] + solution["intercept"]).argmax(axis=1)
    return float((pred == y.reshape(-1)).mean())


def _evaluate_splits(net: Network, dataset: Dataset) -> dict:
    return {name: split_accuracy(net, X, y) for name, (X, y) in dataset.splits().items() if name != "train"}


def _train_sg(dataset: Dataset, profile: str, seed: int, progress, readout: str, params: dict):
    """SG training in float (quantization-aware with ``qat``), then PTQ at ``weight_bits``."""
    from neurorecon.quantize.ptq import sg_ptq
    from neurorecon.train.surrogate.trainer import train_surrogate

    kind = "step" if dataset.per_step else ("last" if readout == "last" else "count")
    sg = {k[3:]: params[k] for k in SG_PARAMS if k in params}
    hidden = sg.pop("hidden", 256)
    bits, qat = params.get("weight_bits", 8), bool(params.get("qat", False))
    chip = load_profile(profile).with_weight_bits(bits)
    if qat and not chip.is_fixed:
        raise NeuroreconError(f"quantization-aware training needs a fixed-point profile; {chip.name} is float")
    net_float, history = train_surrogate(dataset.X_train, dataset.y_train, hidden=(hidden,), readout=kind,
                                         seed=seed, progress=progress, weight_bits=bits if qat else None, **sg)
    net, ptq = sg_ptq(net_float, chip, dataset.X_train, dataset.y_train)
    net.metadata["provenance"] = dict(net_float.metadata.get("provenance", {}), method="sg", weight_bits=bits)
    extra = {"history": history.to_dict(), "ptq": ptq.to_dict(), "qat": qat, "weight_bits": bits}
    return net, net_float, extra


def train_dataset(dataset: Dataset, method: str = "cvx", profile: str = "loihi2", seed: int = 0,
                  progress: ProgressOption = None, fine_tune: int = 0, **params):
    """Train with ``method`` on ``dataset``; returns (chip Network, metrics, the fitted model or None)."""
    check_seed(seed)
    started = time.perf_counter()
    readout = params.get("readout", "auto")
    if params.get("netx_compatible") and (method != "cvx" or fine_tune):
        raise NeuroreconError("netx-compatible training is for method cvx without fine-tuning")
    if params.get("qat") and method != "sg":
        raise NeuroreconError("quantization-aware training (qat) is for method sg")
    if fine_tune and params.get("max_delay", "auto") not in ("auto", 0):
        raise NeuroreconError("SG fine-tuning trains delay-free networks: use max_delay=0 with fine_tune")
    if fine_tune and method == "cvx":
        params["max_delay"] = 0  # "auto": the network is fine-tuned by surrogate gradients, which has no delays
    model = None
    if method == "sg":
        net, net_float, training = _train_sg(dataset, profile, seed, progress, readout, params)
        float_splits = _evaluate_splits(net_float, dataset)
    else:
        source = "sg" if method == "sg-cvx" else "random"
        model = ReconstructionClassifier(profile=profile, seed=seed, progress=progress, witness_source=source, **params)
        model.fit(dataset.X_train, dataset.y_train)
        if fine_tune:
            tuned = ReconstructionClassifier(profile=profile, seed=seed, progress=progress, **{
                **params, "witness_source": "sg", "sg_init": model.network_, "sg_epochs": fine_tune,
                "n_witnesses": model.network_.sizes[0], "column_generation_rounds": 0, "readout": model.readout_,
                "search": "random",
            })
            model = tuned.fit(dataset.X_train, dataset.y_train)
        net = model.network_
        training = model.report_
        if hasattr(model, "surrogate_"):
            sg = model.surrogate_
            training["sg_baseline"] = {"float": _evaluate_splits(sg.float_network, dataset),
                                       "chip": _evaluate_splits(sg.chip_network, dataset)}
        if model.readout_solution_ is None:  # sg-cvx kept the SG network itself: its float model is SG's
            float_splits = training["sg_baseline"]["float"]
        else:
            float_splits = {name: {"accuracy": float_readout_accuracy(net, model.readout_solution_, X, y)}
                            for name, (X, y) in dataset.splits().items() if name != "train"}
    train_seconds = time.perf_counter() - started
    net.metadata["data"] = {"name": dataset.name, "options": dataset.options}
    splits = _evaluate_splits(net, dataset)
    metrics = {
        "method": method,
        "fine_tune_epochs": fine_tune,
        "profile": net.metadata.get("profile", profile),
        "readout": net.metadata["readout"],
        "seed": seed,
        "data": {"name": dataset.name, "options": dataset.options, "description": dataset.description},
        # the classifier's fit already ran the chip network on the training split (its verification)
        "train_accuracy": training["train_accuracy"] if model is not None
        else split_accuracy(net, dataset.X_train, dataset.y_train)["accuracy"],
        "train_seconds": train_seconds,
        "layers": net.sizes,
        "n_hidden": int(sum(net.sizes[:-1])),
        "splits": splits,
        "float_splits": float_splits,
        "training": training,
    }
    metrics["peak_rss_bytes"] = peak_resident_memory()
    if model is not None:
        metrics.update(duality_gap=training["duality_gap"], dictionary_size=training["dictionary_size"],
                       dictionary_bytes=training["dictionary_bytes"], engine=training["engine"],
                       cluster=training["engine"]["cluster"])
    if "test" in splits:
        metrics["test_accuracy"] = splits["test"]["accuracy"]
        metrics["float_test_accuracy"] = float_splits["test"]["accuracy"]
    return net, metrics, model
