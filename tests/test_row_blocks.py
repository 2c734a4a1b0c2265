"""The solver over row blocks (memory, disk, Dask workers): the same bits as on the stacked matrix."""

import json
import os
import signal
import tracemalloc

import numpy as np
import pytest
import torch
from clitools import assert_clean_failure, cli
from test_scale import _fit, assert_same_network, client, data  # noqa: F401 (fixtures)

import neurorecon as nr
from neurorecon.data import load_data
from neurorecon.readout import Readout
from neurorecon.solve import DictionaryOperator, beta_max, dual_violation, evaluate, solve, solve_path
from neurorecon.solve import row_blocks
from neurorecon.solve.row_blocks import DaskBlocks, DiskBlocks, RowBlocks
from neurorecon.train.blocks import Engine, _data
from neurorecon.train.convex.dictionary import Dictionary

SPLITS = [[157], [50, 50, 57], [1, 1, 155], [10, 1, 60, 86], [1] * 157]
# in memory with the dense products on a torch device: CPU torch here, CUDA too on a lent GPU machine
WHERE = ["memory", "disk", "device:cpu"] + (["device:cuda"] if torch.cuda.is_available() else [])


def _counts_dictionary(n=157, P=83, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    D = rng.poisson(rng.uniform(0.05, 2.0, P), (n, P)).astype(np.float32)
    D[:, 5] = 3.0  # a constant column
    D[:, 7] = D[:, 6]  # a duplicate
    return D


def _targets(n=157, C=4, seed=1) -> np.ndarray:
    return np.eye(C)[np.random.default_rng(seed).integers(0, C, n)]


def _blocks(D: np.ndarray, counts, where: str, tmp_path=None) -> RowBlocks:
    parts = np.split(D, np.cumsum(counts)[:-1])
    if where == "memory" or where.startswith("device:"):
        return RowBlocks.of(parts, device=where.partition(":")[2] or None)
    store = DiskBlocks([DiskBlocks.write(tmp_path, p) for p in parts])
    return RowBlocks(store, counts, D.shape[1], D.dtype)


def _assert_same_operator(a: DictionaryOperator, b: DictionaryOperator, R: np.ndarray) -> None:
    for name in ("col_sums", "col_abs_sums", "col_means", "col_sq_norms", "col_norms", "column_scale"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.n, a.P, a.integer, a._digit_bits, a._error_factor) == (b.n, b.P, b.integer, b._digit_bits, b._error_factor)
    assert np.array_equal(a.correlations(R), b.correlations(R))
    cols = np.array([3, 0, 11, 7, a.P - 1])
    assert np.array_equal(a.correlations(R, cols), b.correlations(R, cols))
    assert np.array_equal(a.correlation_error(R), b.correlation_error(R))
    old = np.array([1, 9, 4])
    for x, y in zip(a.gram(cols, old), b.gram(cols, old)):
        assert np.array_equal(x, y)
    W = np.random.default_rng(7).standard_normal((len(cols), R.shape[1]))
    for x, y in zip(a.residual(R, W, cols), b.residual(R, W, cols)):
        assert np.array_equal(x, y)
    most = np.random.default_rng(8).permutation(a.P)[:int(0.8 * a.P)]  # in memory: the product on all columns
    W = np.random.default_rng(9).standard_normal((len(most), R.shape[1]))
    for x, y in zip(a.residual(R, W, most), b.residual(R, W, most)):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("counts", SPLITS, ids=lambda c: f"{len(c)}blocks")
@pytest.mark.parametrize("standardize", [False, True])
def test_row_blocks_give_the_same_bits(tmp_path, where, counts, standardize):
    D, Y = _counts_dictionary(), _targets()
    R = np.random.default_rng(2).standard_normal((D.shape[0], 4))
    R -= R.mean(axis=0)
    whole = DictionaryOperator(D, standardize=standardize)
    split = DictionaryOperator(_blocks(D, counts, where, tmp_path), standardize=standardize)
    assert whole.exact_float32 and split.blocks.where == ("disk" if where == "disk" else "memory")
    assert split.blocks.n_blocks == len(counts)
    _assert_same_operator(whole, split, R)
    assert beta_max(whole, Y, standardize=standardize) == beta_max(split, Y, standardize=standardize)
    beta = 0.1 * beta_max(whole, Y, standardize=standardize)
    a, b = solve(whole, Y, beta, standardize=standardize), solve(split, Y, beta, standardize=standardize)
    assert a.converged and a.gap <= 1e-6 and len(a.support) > 3
    for name in ("W", "intercept", "dual_point", "support"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert (a.gap, a.primal, a.iterations) == (b.gap, b.primal, b.iterations)
    betas = beta * np.array([2.0, 1.0, 0.5])
    for x, y in zip(solve_path(whole, Y, betas, standardize=standardize),
                    solve_path(split, Y, betas, standardize=standardize)):
        assert np.array_equal(x.W, y.W) and np.array_equal(x.intercept, y.intercept) and x.gap == y.gap
    lam = a.dual_point
    assert np.array_equal(dual_violation(whole, lam, beta), dual_violation(split, lam, beta))
    e = evaluate(whole, Y, 0.5 * a.W, beta, standardize=standardize)
    f = evaluate(split, Y, 0.5 * a.W, beta, standardize=standardize)
    assert np.array_equal(e.dual_point, f.dual_point) and np.array_equal(e.intercept, f.intercept)
    assert (e.gap, e.primal, e.dual) == (f.gap, f.primal, f.dual)


@pytest.mark.parametrize("where", WHERE)
def test_row_subsets_and_column_prefixes_are_those_of_the_stacked_matrix(tmp_path, where):
    D = _counts_dictionary()
    D[:40, 9] = 40.0  # a column whose largest entries lie outside the subset: the subset's digit bits differ
    rows = np.sort(np.random.default_rng(3).choice(D.shape[0], 120, replace=False))
    rows = rows[rows >= 40]
    blocks = _blocks(D, [10, 1, 60, 86], where, tmp_path)
    R = np.random.default_rng(4).standard_normal((len(rows), 3))
    R -= R.mean(axis=0)
    reference = DictionaryOperator(D[rows][:, :50].copy())
    view = DictionaryOperator(blocks).rows(rows).prefix(50)
    assert DictionaryOperator(D)._digit_bits < reference._digit_bits  # the subset's own k, not the whole's
    _assert_same_operator(reference, view, R)
    again = DictionaryOperator(blocks).prefix(50).rows(rows)  # the other order: the same view
    _assert_same_operator(reference, again, R)
    nested = DictionaryOperator(blocks).rows(rows[::2])
    np.testing.assert_array_equal(nested.rows(np.arange(0, len(rows[::2]), 3)).gram(np.arange(5), np.arange(5, 9))[0],
                                  DictionaryOperator(D[rows[::2][::3]]).gram(np.arange(5), np.arange(5, 9))[0])
    with pytest.raises(ValueError, match="increasing"):
        blocks.rows(rows[::-1])


def _count_device_calls(monkeypatch) -> list[tuple[str, str]]:
    """(device type, float32 matmul precision) of every call of a device twin, recorded before it
    runs as registered."""
    calls = []
    for fn, twin in list(row_blocks._DEVICE_TWINS.items()):
        def counted(x, *args, _twin=twin):
            calls.append((x.device.type, torch.get_float32_matmul_precision()))
            return _twin(x, *args)
        monkeypatch.setitem(row_blocks._DEVICE_TWINS, fn, counted)
    return calls


def test_device_blocks_run_the_dense_products_there_in_ieee_float32(monkeypatch):
    calls = _count_device_calls(monkeypatch)
    D, Y = _counts_dictionary(), _targets()
    op = DictionaryOperator(RowBlocks.of(np.split(D, [60]), device="cpu"))
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")  # TF32 allowed, as a user may have set it
    try:
        result = solve(op, Y, 0.1 * beta_max(op, Y))
        assert torch.get_float32_matmul_precision() == "high"  # restored after every pass
    finally:
        torch.set_float32_matmul_precision(before)
    assert result.converged and len(result.support) > 3
    # correlations, Gram blocks and residual products all ran on the device, TF32 off
    assert len(calls) >= 3 and set(calls) == {("cpu", "highest")}
    assert {f.__name__ for f in row_blocks._DEVICE_TWINS} == {"_digit_product", "_integer_gram", "_row_digit_product"}
    assert np.array_equal(result.W, solve(DictionaryOperator(D), Y, 0.1 * beta_max(D, Y)).W)
    with pytest.raises(nr.NeuroreconError, match="device must be"):
        RowBlocks.of([D], device="tpu")


def test_a_torch_device_builds_and_solves_the_same_network(data, monkeypatch):
    X, y = data
    reference = _fit(X, y).network_
    calls = _count_device_calls(monkeypatch)
    on_device = _fit(X, y, device="cpu")
    assert_same_network(reference, on_device.network_)
    assert on_device.report_["engine"]["solver_device"] == "cpu"
    assert calls and set(calls) == {("cpu", "highest")}  # the solver's products ran on the device


def test_non_integer_dictionaries_over_blocks_agree_to_rounding(tmp_path):
    rng = np.random.default_rng(5)
    D = rng.standard_normal((157, 40)).astype(np.float32)
    Y = _targets()
    whole = DictionaryOperator(D)
    split = DictionaryOperator(_blocks(D, [50, 50, 57], "disk", tmp_path))
    assert not split.exact_float32
    R = rng.standard_normal((157, 4))
    np.testing.assert_allclose(split.correlations(R), whole.correlations(R), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(split.col_sq_norms, whole.col_sq_norms, rtol=1e-12)
    beta = 0.1 * beta_max(whole, Y)
    a, b = solve(whole, Y, beta, tol=1e-9), solve(split, Y, beta, tol=1e-9)
    assert a.converged and b.converged
    np.testing.assert_allclose(b.W, a.W, atol=1e-6 * np.abs(a.W).max())


def test_a_pass_over_disk_blocks_holds_one_block(tmp_path):
    rng = np.random.default_rng(6)
    n_blocks, rows, P = 16, 500, 400
    paths, stacked = [], []
    for _ in range(n_blocks):
        block = rng.poisson(0.5, (rows, P)).astype(np.float32)
        paths.append(DiskBlocks.write(tmp_path, block))
        stacked.append(block)
    D = np.concatenate(stacked)
    del stacked
    blocks = RowBlocks(DiskBlocks(paths), [rows] * n_blocks, P, np.float32)
    R = rng.standard_normal((n_blocks * rows, 10))
    R -= R.mean(axis=0)
    expected = DictionaryOperator(D).correlations(R)
    block_bytes, dictionary_bytes = rows * P * 4, D.nbytes
    del D
    tracemalloc.start()
    try:
        op = DictionaryOperator(blocks)
        got = op.correlations(R)
        sub = op.rows(np.arange(0, n_blocks * rows, 3)).correlations(R[::3] - R[::3].mean(axis=0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(got, expected) and sub.shape == (P, 10)
    # R's digits (n x 40 float32) and P x 40 partial products besides: far below the dictionary
    digits_bytes = n_blocks * rows * 40 * 4
    assert peak < 2 * block_bytes + 3 * digits_bytes
    assert peak < dictionary_bytes / 2


def _exact_product(D: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``D V`` rounded once from the exact rational value (D integer, V float64)."""
    from fractions import Fraction

    Df = [[Fraction(int(v)) for v in row] for row in D]
    Vf = [[Fraction(float(v)) for v in row] for row in V]
    return np.array([[float(sum(d * w[c] for d, w in zip(row, Vf))) for c in range(V.shape[1])] for row in Df])


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("signed", [False, True])
def test_the_gram_blocks_and_the_residual_are_the_closed_forms(standardize, fit_intercept, signed):
    rng = np.random.default_rng(8)
    D = _counts_dictionary(n=60, P=30, seed=9)
    if signed:
        D -= rng.poisson(1.0, D.shape).astype(np.float32)
    op = DictionaryOperator(D, fit_intercept=fit_intercept, standardize=standardize)
    sigma = op.column_scale
    Dc = D.astype(np.float64) / sigma
    if fit_intercept:
        Dc -= Dc.mean(axis=0)
    new, old = np.array([4, 17, 0, 29]), np.array([3, 5, 11, 21, 28])
    cross, square = op.gram(new, old)
    np.testing.assert_allclose(cross, Dc[:, new].T @ Dc[:, old], rtol=1e-12, atol=1e-12 * np.abs(Dc).max() ** 2)
    np.testing.assert_allclose(square, Dc[:, new].T @ Dc[:, new], rtol=1e-12, atol=1e-12 * np.abs(Dc).max() ** 2)
    assert np.array_equal(square, square.T)
    assert op.gram(np.zeros(0, dtype=int), old)[0].shape == (0, 5)
    # the residual against the exact product, within its bound
    idx = np.array([2, 7, 6, 13, 25, 29])
    W = rng.standard_normal((len(idx), 3)) * np.array([1.0, 1e-3, 1e4])
    Yc = rng.standard_normal((60, 3))
    if fit_intercept:
        Yc -= Yc.mean(axis=0)
    V = W / sigma[idx][:, None]
    DV, entry = op.product(W, idx)
    exact = _exact_product(D[:, idx], V)
    assert np.all(np.abs(DV - exact) <= entry) and np.all(entry < 1e-13 * np.abs(exact).max(axis=0))
    R, bound = op.residual(Yc, W, idx)
    reference = Yc - exact
    if fit_intercept:
        reference -= reference.mean(axis=0)
    assert np.all(np.linalg.norm(R - reference, axis=0) <= bound)
    assert np.all(bound < 1e-12 * (np.linalg.norm(Yc, axis=0) + np.linalg.norm(exact, axis=0)))
    np.testing.assert_allclose(R, Yc - Dc[:, idx] @ W, rtol=1e-9, atol=1e-9 * np.abs(R).max())


def test_the_residual_bound_holds_with_few_digits(monkeypatch):
    import neurorecon.solve.operator as operator

    D = _counts_dictionary(n=60, P=30, seed=10)
    op = DictionaryOperator(D)
    idx = np.arange(0, 30, 2)
    W = np.random.default_rng(11).standard_normal((len(idx), 2))
    exact = _exact_product(D[:, idx], W)
    DV, entry = op.product(W, idx)
    monkeypatch.setattr(operator, "_PRODUCT_BITS_TOTAL", 12)  # a truncated expansion: a visible error
    coarse, coarse_entry = op.product(W, idx)
    assert np.all(np.abs(coarse - exact) <= coarse_entry) and np.abs(coarse - exact).max() > 1e3 * entry.max()
    assert np.all(np.abs(DV - exact) <= entry)
    # the certificate's primal value stays above the exact one although R is coarse
    Y = _targets(n=60, C=2, seed=16)
    W_full = np.zeros((30, 2))
    W_full[idx] = W
    result = evaluate(op, Y, W_full, 1.0)
    exact_residual = (Y - Y.mean(axis=0)) - exact
    exact_residual -= exact_residual.mean(axis=0)
    exact_primal = 0.5 * np.sum(exact_residual**2) + np.linalg.norm(W, axis=1).sum()
    R, bound = op.residual(Y - Y.mean(axis=0), W, idx)
    assert np.linalg.norm(R - exact_residual) > 1e-6  # visibly off ...
    assert exact_primal <= result.primal <= exact_primal + 2 * np.sum(bound * (np.linalg.norm(R, axis=0) + bound))
    assert result.primal > 0.5 * np.sum(R**2) + np.linalg.norm(W, axis=1).sum()  # ... and accounted for


@pytest.mark.parametrize("standardize", [False, True])
def test_a_product_on_most_columns_runs_on_all_of_them_with_the_same_bits(monkeypatch, standardize):
    """In memory, D[:, idx] V for most columns is D V' (V' zero off idx), not a copy of those
    columns: the same digits, the same exact sums, the same bound."""
    import neurorecon.solve.operator as operator

    D = _counts_dictionary(n=90, P=40, seed=17)
    op = DictionaryOperator(D, standardize=standardize)
    idx = np.random.default_rng(18).permutation(40)[:30]
    W = np.random.default_rng(19).standard_normal((30, 3)) * np.array([1.0, 1e-3, 1e4])
    monkeypatch.setattr(RowBlocks, "cols", lambda *a: pytest.fail("the columns were copied out"))
    dense = op.product(W, idx)
    monkeypatch.undo()
    monkeypatch.setattr(operator, "DENSE_PRODUCT_FRACTION", 2.0)  # never: the columns copied out first
    gathered = op.product(W, idx)
    for x, y in zip(dense, gathered):
        assert np.array_equal(x, y)
    exact = _exact_product(D[:, idx], W / op.column_scale[idx][:, None])
    assert np.all(np.abs(dense[0] - exact) <= dense[1])


def test_a_non_integer_gram_is_correct_to_rounding(tmp_path):
    rng = np.random.default_rng(12)
    D = (100.0 + rng.standard_normal((157, 20))).astype(np.float32)  # large means: centring cancels
    op = DictionaryOperator(_blocks(D, [50, 50, 57], "disk", tmp_path))
    Dc = D.astype(np.float64) - D.astype(np.float64).mean(axis=0)
    cross, square = op.gram(np.arange(5), np.arange(5, 20))
    np.testing.assert_allclose(cross, Dc[:, :5].T @ Dc[:, 5:], rtol=1e-10, atol=1e-10 * 157)
    np.testing.assert_allclose(square, Dc[:, :5].T @ Dc[:, :5], rtol=1e-10)
    R, bound = op.residual(np.zeros((157, 1)), np.ones((3, 1)), np.arange(3))
    np.testing.assert_allclose(R[:, 0], -Dc[:, :3].sum(axis=1), rtol=1e-12, atol=1e-12)


def test_large_integer_entries_take_the_exact_float64_gram():
    D = _counts_dictionary(n=60, P=12, seed=13)
    D[:, 3] = np.random.default_rng(14).integers(0, 2**20, 60)  # products beyond 2^24: float64 blocks
    op = DictionaryOperator(D, standardize=True)
    Dc = D.astype(np.float64) / op.column_scale
    Dc -= Dc.mean(axis=0)
    cross, square = op.gram(np.array([3, 1]), np.arange(4, 12))
    np.testing.assert_allclose(square, Dc[:, [3, 1]].T @ Dc[:, [3, 1]], rtol=1e-12)
    np.testing.assert_allclose(cross, Dc[:, [3, 1]].T @ Dc[:, 4:], rtol=1e-12, atol=1e-12 * np.abs(cross).max())
    split = DictionaryOperator(RowBlocks.of(np.split(D, [1, 30])), standardize=True)
    for x, y in zip(op.gram(np.array([3, 1]), np.arange(4, 12)), split.gram(np.array([3, 1]), np.arange(4, 12))):
        assert np.array_equal(x, y)


# ---------------------------------------------------------------- on a Dask cluster


def _on_workers(client, D: np.ndarray, counts) -> RowBlocks:
    """Row blocks as futures of tasks holding them (a cluster can make them again after losing a worker)."""
    parts = np.split(D, np.cumsum(counts)[:-1])
    futures = [client.submit(_data, p, pure=False) for p in parts]
    return RowBlocks(DaskBlocks(client, futures), counts, D.shape[1], D.dtype)


def test_row_blocks_on_workers_give_the_same_bits_even_after_a_worker_dies(client):
    D, Y = _counts_dictionary(), _targets()
    R = np.random.default_rng(2).standard_normal((D.shape[0], 4))
    R -= R.mean(axis=0)
    counts = [10, 1, 60, 86]
    blocks = _on_workers(client, D, counts)
    whole, split = DictionaryOperator(D, standardize=True), DictionaryOperator(blocks, standardize=True)
    assert split.blocks.where == "workers"
    _assert_same_operator(whole, split, R)
    rows = np.flatnonzero(np.arange(D.shape[0]) % 3 != 1)
    _assert_same_operator(DictionaryOperator(D[rows][:, :60].copy()), DictionaryOperator(blocks).rows(rows).prefix(60),
                          R[rows] - R[rows].mean(axis=0))
    beta = 0.1 * beta_max(whole, Y, standardize=True)
    expected = solve(whole, Y, beta, standardize=True)
    os.kill(sorted(client.run(os.getpid).values())[0], signal.SIGKILL)  # its blocks are made again
    got = solve(split, Y, beta, standardize=True)
    assert np.array_equal(got.W, expected.W) and np.array_equal(got.intercept, expected.intercept)
    assert got.gap == expected.gap


def test_a_solve_on_workers_gathers_no_column_block(client, monkeypatch):
    D = np.random.default_rng(15).poisson(0.8, (157, 400)).astype(np.float32)
    Y = _targets()
    counts = [50, 107]
    op = DictionaryOperator(_on_workers(client, D, counts))
    beta = 0.02 * beta_max(op, Y)
    received = []
    gather = client._gather

    async def spy(*args, **kwargs):  # every result the client receives from the cluster
        out = await gather(*args, **kwargs)
        received.extend(x for x in (out if isinstance(out, (list, tuple)) else [out]) if isinstance(x, np.ndarray))
        return out

    def column_blocks(arrays):  # a block's rows of more columns than a digit product has (9 digits x C)
        return [a.shape for a in arrays if a.dtype == np.float32 and a.shape[0] in counts and a.shape[1] > 9 * 4]

    monkeypatch.setattr(client, "_gather", spy)
    got = solve(op, Y, beta)
    path = solve_path(op, Y, [2 * beta, beta])
    monkeypatch.undo()
    expected, expected_path = solve(D, Y, beta), solve_path(D, Y, [2 * beta, beta])
    assert np.array_equal(got.W, expected.W) and got.gap == expected.gap and got.info["working_set"] >= 250
    for x, y in zip(path, expected_path):
        assert np.array_equal(x.W, y.W) and np.array_equal(x.dual_point, y.dual_point) and x.gap == y.gap
    assert len(received) > 20 and column_blocks(received) == []
    m = got.info["working_set"]
    assert max(a.size for a in received) <= max(157 * 9 * 4, m * m, 400 * 9 * 4)
    assert any(a.dtype == np.float64 and a.shape[0] <= m and a.shape[1] >= 250 for a in received)  # Gram blocks
    monkeypatch.setattr(client, "_gather", spy)
    received.clear()
    op.blocks.columns(np.arange(100))  # what the client gathered before: the detector sees it
    monkeypatch.undo()
    assert column_blocks(received) == [(50, 100), (107, 100)]


def _feature_blocks_in(value) -> int:
    """How many feature blocks (readout -> array, what a dictionary block task returns) ``value`` holds."""
    if isinstance(value, dict):
        return int(bool(value) and set(value) <= {"last", "count", "step"}
                   and all(isinstance(v, np.ndarray) for v in value.values()))
    if isinstance(value, (list, tuple)):
        return sum(_feature_blocks_in(v) for v in value)
    return 0


def test_a_fit_on_a_cluster_keeps_the_dictionary_on_the_workers(client, data, monkeypatch):
    X, y = data
    reference = _fit(X, y)
    received = []
    gather = client._gather


    async def spy(*args, **kwargs):  # every result the client receives from the cluster
        out = await gather(*args, **kwargs)
        received.append(_feature_blocks_in(out))
        return out

    asked = []
    columns = RowBlocks.columns

    def gathered_columns(self, idx):  # a dictionary's columns brought to the client
        asked.append(self.where)
        return columns(self, idx)

    monkeypatch.setattr(client, "_gather", spy)
    monkeypatch.setattr(RowBlocks, "columns", gathered_columns)
    distributed = _fit(X, y, cluster=client, memory_limit="1MB")
    monkeypatch.undo()
    assert distributed.report_["engine"]["dictionary"] == "workers" == distributed.report_["dictionary_where"]
    assert reference.report_["engine"]["dictionary"] == "memory"
    assert_same_network(reference.network_, distributed.network_)
    assert distributed.report_["dictionary_bytes"] == reference.report_["dictionary_bytes"]
    # the client received the passes' results (statistics, products, columns), never a dictionary block
    assert len(received) > 20 and sum(received) == 0
    # nor a block's rows of selected columns (validation scores, round reports take products)
    assert "workers" not in asked and asked.count("memory") < 5
    assert _feature_blocks_in([{"count": np.zeros(2)}]) == 1

    engine = Engine(client, memory_limit="1MB")
    readouts = [Readout("count"), Readout("last")]
    layer = nr.LIFLayer(np.random.default_rng(0).integers(-200, 200, (100, X.shape[2])), du=100, dv=100, vth=300)
    here, there = Dictionary(X, X.shape[1], 0, readouts, "fixed"), Dictionary(X, X.shape[1], 0, readouts, "fixed", engine)
    assert here.add(layer).keys() == there.add(layer).keys()
    for kind in ("count", "last"):
        blocks = there.columns[kind].blocks
        assert isinstance(blocks.store, DaskBlocks) and blocks.n_blocks == len(there._sample_blocks()) > 1
        np.testing.assert_array_equal(here.columns[kind].witness, there.columns[kind].witness)
        np.testing.assert_array_equal(here.columns[kind].blocks.columns(np.arange(here.columns[kind].size)),
                                      blocks.columns(np.arange(blocks.shape[1])))


# ---------------------------------------------------------------- out of core


@pytest.fixture(scope="module")
def larger():
    ds = load_data("first-last-xor", T=6, n_train=1500, n_test=10)
    return ds.X_train, ds.y_train


def test_a_dictionary_larger_than_the_memory_limit_is_solved_from_disk(larger, tmp_path):
    X, y = larger
    reference = _fit(X, y)
    store = tmp_path / "blocks"
    limited = _fit(X, y, memory_limit="1MB", block_store=store)
    assert reference.report_["dictionary_bytes"] > 2**20 and reference.report_["engine"]["dictionary"] == "memory"
    assert limited.report_["engine"]["dictionary"] == "disk" == limited.report_["dictionary_where"]
    assert limited.report_["dictionary_bytes"] == reference.report_["dictionary_bytes"]
    assert_same_network(reference.network_, limited.network_)
    assert not list(store.glob("dictionary-*"))  # the dictionary's files go with the fit


def test_cli_out_of_core_and_a_limit_nothing_fits_in(capsys, tmp_path):
    small = ["--T", "6", "--n-train", "1500", "--n-test", "50", "--witnesses", "150", "--rounds", "1",
             "--candidates", "60", "--seed", "2"]
    out = cli(capsys, "train", "first-last-xor", "--out", tmp_path / "a", *small, "--memory-limit", "1MB", "--json")
    assert out.code == 0, out.err
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["engine"]["dictionary"] == "disk" and metrics["dictionary_bytes"] > 2**20
    assert cli(capsys, "train", "first-last-xor", "--out", tmp_path / "b", *small).code == 0
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["engine"]["dictionary"] == "memory"
    assert nr.Network.load(tmp_path / "a").equals(nr.Network.load(tmp_path / "b"))
    assert_clean_failure(cli(capsys, "train", "first-last-xor", "--out", tmp_path / "c", *small, "--witnesses", "9000",
                             "--memory-limit", "1MB"), "one block of the dictionary")
