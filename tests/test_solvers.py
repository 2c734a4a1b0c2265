"""The readout solvers: optimality against CVXPY, KKT, the gap certificate, paths, bad input.

Problems are small (CVXPY/Clarabel is the oracle); speed is measured in
benchmarks/bench_solver_vs_cvxpy.py, never here.
"""

import numpy as np
import pytest

from neurorecon.errors import NeuroreconError
from neurorecon.solve import DictionaryOperator, GramCache, beta_max, dual_violation, evaluate, solve, solve_path
from neurorecon.solve.working_set import NEWTON_AFTER, _newton_step, accelerated_gradient, bcd, support_newton


def spike_problem(n=80, P=150, C=3, seed=0, offset=0.0, counts=False, density=(0.2, 0.5)):
    """A spike-like dictionary: thresholded projections of latent inputs, one-hot targets."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 8))
    A = X @ rng.standard_normal((8, P)) + 0.5 * rng.standard_normal((n, P))
    dens = rng.uniform(*density, P)
    thr = np.sort(A, axis=0)[((1 - dens) * (n - 1)).astype(int), np.arange(P)]
    D = (A > thr).astype(np.float32)
    if counts:
        D = D * rng.integers(1, 4, (n, P)).astype(np.float32)
    labels = (D[:, :10] @ rng.standard_normal((10, C)) + 0.5 * rng.standard_normal((n, C))).argmax(axis=1)
    Y = np.eye(C)[labels] + offset
    return D, Y


def objective(D, Y, W, b, beta, penalty):
    R = D.astype(np.float64) @ W + b - Y
    reg = np.sqrt((W**2).sum(axis=1)).sum() if penalty == "group" else np.abs(W).sum()
    return 0.5 * (R**2).sum() + beta * reg


# ---------------------------------------------------------------- optimality against CVXPY


@pytest.mark.parametrize("penalty", ["group", "l1"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_native_objective_equals_cvxpy(penalty, fit_intercept):
    D, Y = spike_problem(seed=1)
    beta = 0.15 * beta_max(D, Y, penalty, fit_intercept=fit_intercept)
    nat = solve(D, Y, beta, penalty=penalty, fit_intercept=fit_intercept)
    ref = solve(D, Y, beta, penalty=penalty, fit_intercept=fit_intercept, solver="cvxpy")
    assert nat.converged and nat.gap <= 1e-6
    assert ref.converged
    assert abs(nat.primal - ref.primal) <= 1e-6 * ref.primal
    assert abs(ref.primal - ref.info["cvxpy_objective"]) <= 1e-7 * ref.primal  # same objective, two codes
    assert np.isclose(nat.primal, objective(D, Y, nat.W, nat.intercept, beta, penalty), rtol=1e-12)
    assert 0 < len(nat.support) < D.shape[1]
    if not fit_intercept:
        assert np.all(nat.intercept == 0)


@pytest.mark.parametrize("penalty", ["group", "l1"])
def test_intercept_matters_offset_targets_and_count_features(penalty):
    """Targets far from zero mean and count-valued columns: the unpenalised intercept absorbs the
    offset; fitting without one is a different (worse) problem."""
    D, Y = spike_problem(seed=2, offset=3.0, counts=True)
    beta = 0.2 * beta_max(D, Y, penalty)
    nat = solve(D, Y, beta, penalty=penalty)
    ref = solve(D, Y, beta, penalty=penalty, solver="cvxpy")
    assert nat.gap <= 1e-6
    assert abs(nat.primal - ref.primal) <= 1e-6 * ref.primal
    assert np.allclose(nat.intercept, ref.info["cvxpy_intercept"], atol=1e-3)
    no_b = solve(D, Y, beta, penalty=penalty, fit_intercept=False)
    assert no_b.primal > nat.primal * 1.05


# ---------------------------------------------------------------- KKT and the certificate


@pytest.mark.parametrize("penalty", ["group", "l1"])
def test_kkt_conditions_hold_at_the_native_solution(penalty):
    D, Y = spike_problem(seed=3)
    beta = 0.1 * beta_max(D, Y, penalty)
    res = solve(D, Y, beta, penalty=penalty, tol=1e-12)
    R = Y - D.astype(np.float64) @ res.W - res.intercept  # the residual, Y - fit
    assert np.allclose(R.sum(axis=0), 0, atol=1e-9)  # intercept optimality
    Z = D.astype(np.float64).T @ R
    nz = np.any(res.W != 0, axis=1)
    assert nz.sum() > 5
    if penalty == "group":
        norms = np.linalg.norm(res.W[nz], axis=1, keepdims=True)
        assert np.allclose(Z[nz], beta * res.W[nz] / norms, atol=1e-5 * beta)
        assert np.all(np.linalg.norm(Z[~nz], axis=1) <= beta * (1 + 1e-6))
    else:
        on = res.W != 0
        assert np.allclose(Z[on], beta * np.sign(res.W[on]), atol=1e-5 * beta)
        assert np.all(np.abs(Z[~on]) <= beta * (1 + 1e-6))


def orthogonal_problem(n=40, P=12, C=3, seed=4, centred=True):
    """Orthogonal columns (orthogonal to 1 as well when centred), where the group Lasso has a
    closed form: group soft-thresholding of D_p^T Y / ||D_p||^2."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, P + 1))
    M[:, 0] = 1.0
    Q = np.linalg.qr(M)[0][:, 1:] if centred else np.linalg.qr(M[:, 1:])[0]
    D = Q * rng.uniform(1.0, 3.0, P)
    Y = rng.standard_normal((n, C)) + 2.0
    return D, Y


def closed_form(D, Y, beta, penalty, centred):
    Yc = Y - Y.mean(axis=0) if centred else Y
    sq = (D**2).sum(axis=0)[:, None]
    Z = D.T @ Yc / sq
    t = beta / sq
    if penalty == "group":
        norm = np.linalg.norm(Z, axis=1, keepdims=True)
        W = Z * np.maximum(1 - t / np.maximum(norm, 1e-300), 0)
    else:
        W = np.sign(Z) * np.maximum(np.abs(Z) - t, 0)
    b = Y.mean(axis=0) - D.mean(axis=0) @ W if centred else np.zeros(Y.shape[1])
    return W, b


@pytest.mark.parametrize("penalty", ["group", "l1"])
@pytest.mark.parametrize("centred", [True, False])
def test_gap_is_exact_on_orthogonal_dictionary(penalty, centred):
    D, Y = orthogonal_problem(centred=centred)
    beta = 0.4 * beta_max(D, Y, penalty, fit_intercept=centred)
    W_star, b_star = closed_form(D, Y, beta, penalty, centred)
    p_star = objective(D, Y, W_star, b_star, beta, penalty)
    assert np.any(W_star != 0) and np.any(np.all(W_star == 0, axis=1))

    # At the closed-form optimum the certificate is zero and the dual point is the residual.
    at_opt = evaluate(D, Y, W_star, beta, penalty=penalty, fit_intercept=centred)
    assert np.isclose(at_opt.primal, p_star, rtol=1e-12)
    assert abs(at_opt.gap) <= 1e-12
    assert np.allclose(at_opt.dual_point, Y - D @ W_star - b_star, atol=1e-10)

    # Away from it: the gap is primal - dual computed by hand, and it bounds the suboptimality.
    rng = np.random.default_rng(5)
    W = W_star + 0.05 * rng.standard_normal(W_star.shape)
    res = evaluate(D, Y, W, beta, penalty=penalty, fit_intercept=centred)
    b = Y.mean(axis=0) - D.mean(axis=0) @ W if centred else np.zeros(Y.shape[1])
    R = Y - D @ W - b
    Z = D.T @ R
    if penalty == "group":
        s = np.full(Y.shape[1], min(1.0, beta / np.linalg.norm(Z, axis=1).max()))
    else:
        s = np.minimum(1.0, beta / np.abs(Z).max(axis=0))
    lam = R * s
    dual = (lam * Y).sum() - 0.5 * (lam**2).sum()
    primal = objective(D, Y, W, b, beta, penalty)
    assert np.isclose(res.primal, primal, rtol=1e-12)
    assert np.isclose(res.dual, dual, rtol=1e-12)
    assert np.isclose(res.gap, (primal - dual) / primal, rtol=1e-9)
    assert primal - p_star <= primal - dual + 1e-12  # weak duality: the gap bounds the suboptimality

    # And the native solver finds the closed form.
    nat = solve(D, Y, beta, penalty=penalty, fit_intercept=centred, tol=1e-12)
    assert np.allclose(nat.W, W_star, atol=1e-9)
    assert np.allclose(nat.intercept, b_star, atol=1e-9)


@pytest.mark.parametrize("penalty", ["group", "l1"])
def test_dual_point_is_feasible_and_centred(penalty):
    D, Y = spike_problem(seed=6, offset=1.0)
    beta = 0.2 * beta_max(D, Y, penalty)
    for res in (solve(D, Y, beta, penalty=penalty), solve(D, Y, beta, penalty=penalty, max_iter=1)):
        lam = res.dual_point
        assert np.allclose(lam.sum(axis=0), 0, atol=1e-10 * np.abs(lam).max())
        assert np.all(dual_violation(D, lam, beta, penalty) <= 1 + 1e-12)
        assert res.dual <= res.primal
    assert not solve(D, Y, beta, penalty=penalty, max_iter=1).converged


@pytest.mark.parametrize("standardize", [False, True])
def test_a_gap_below_the_precision_floor_stops_early_with_a_valid_certificate(standardize):
    """tol below what the products' error bounds can certify: the solve stops once passes with
    every column in the working set stop shrinking the gap (STALL_PASSES), not after max_iter
    passes, and says it did not converge; its certificate still holds."""
    D, Y = spike_problem(seed=12, counts=True)
    beta = 0.1 * beta_max(D, Y, standardize=standardize)
    res = solve(D, Y, beta, tol=1e-17, standardize=standardize)
    assert not res.converged
    assert res.outer_iterations <= 12
    assert 0 <= res.gap < 1e-12
    scaled = res.W * (res.column_scale[:, None] if standardize else 1.0)
    assert np.all(dual_violation(D / (res.column_scale if standardize else 1.0), res.dual_point, beta) <= 1 + 1e-12)
    assert evaluate(D, Y, res.W, beta, standardize=standardize).primal <= res.primal * (1 + 1e-12)
    assert np.any(scaled)


def test_correlation_error_bound_is_float64s_for_integer_dictionaries():
    """The digit expansion of R carries float64's precision: the certificate's inflation of the
    dual constraint is ~1e-15 relative, so 1e-6 gaps certify even for rare, standardized columns."""
    D, _ = spike_problem(counts=True)
    for standardize in (False, True):
        op = DictionaryOperator(D, standardize=standardize)
        assert op.exact_float32 and op._error_factor < 4e-15


@pytest.mark.parametrize("standardize", [False, True])
def test_a_gram_cache_carries_over_to_a_grown_dictionary(monkeypatch, standardize):
    """Column generation's re-solve: the cache of a solve on D's first columns serves the solve on
    all of D (Gram products of new columns only) and gives the same optimum; an operator on other
    rows starts it afresh."""
    D, Y = spike_problem(n=100, P=240, seed=30, counts=True)
    first, grown = DictionaryOperator(D[:, :160], standardize=standardize), DictionaryOperator(D, standardize=standardize)
    beta = 0.05 * beta_max(grown, Y, standardize=standardize)
    cache = GramCache()
    solve(first, Y, beta, standardize=standardize, cache=cache)
    filled = set(cache.idx.tolist())
    assert filled and max(filled) < 160
    asked = []
    original = DictionaryOperator.gram
    monkeypatch.setattr(DictionaryOperator, "gram", lambda op, new, old: asked.append(new) or original(op, new, old))
    warm = solve(grown, Y, beta, standardize=standardize, cache=cache)
    assert asked and not filled & set(np.concatenate(asked).tolist())  # no cached column again
    fresh = solve(grown, Y, beta, standardize=standardize)
    assert warm.converged and abs(warm.primal - fresh.primal) <= 1e-6 * fresh.primal
    kept = set(cache.idx[cache.idx < 160].tolist())
    asked.clear()
    assert solve(first, Y, beta, standardize=standardize, cache=cache).converged  # cut short: the prefix stays
    assert kept and not kept & set(np.concatenate(asked or [np.zeros(0, int)]).tolist())
    assert cache.idx.max() < 160
    other = DictionaryOperator(D[:90], standardize=standardize)  # other rows: nothing shared
    reference = solve(other, Y[:90], beta, standardize=standardize)
    asked.clear()
    cut = solve(other, Y[:90], beta, standardize=standardize, cache=cache)
    assert cut.converged and abs(cut.primal - reference.primal) <= 1e-6 * reference.primal
    assert len(np.concatenate(asked)) == len(cache.idx)  # every column computed afresh


def test_a_cache_that_is_not_a_gram_cache_is_refused():
    D, Y = spike_problem()
    with pytest.raises(NeuroreconError, match="cache must be a GramCache"):
        solve(D, Y, 1.0, cache={})


# ---------------------------------------------------------------- beta_max, paths, warm starts


@pytest.mark.parametrize("penalty", ["group", "l1"])
def test_beta_max_gives_zero(penalty):
    D, Y = spike_problem(seed=7)
    bmax = beta_max(D, Y, penalty)
    for beta in (bmax, 2 * bmax):
        res = solve(D, Y, beta, penalty=penalty)
        assert res.converged and res.gap <= 1e-10 and res.iterations == 0  # 0 up to the rounding margin
        assert len(res.support) == 0 and not np.any(res.W)
        assert np.allclose(res.intercept, Y.mean(axis=0))
    assert len(solve(D, Y, 0.99 * bmax, penalty=penalty).support) >= 1


def test_path_is_warm_started_and_grows_support():
    D, Y = spike_problem(n=100, P=300, seed=8)
    betas = beta_max(D, Y) * np.geomspace(0.9, 0.05, 8)
    path = solve_path(D, Y, betas)
    sizes = [len(r.support) for r in path]
    assert all(r.converged and r.gap <= 1e-6 for r in path)
    assert sizes[-1] > 3 * sizes[0]
    assert sum(b < a for a, b in zip(sizes, sizes[1:])) <= 1  # roughly monotone
    cold = [solve(D, Y, beta) for beta in betas]
    for warm, c in zip(path, cold):
        assert abs(warm.primal - c.primal) <= 1e-6 * c.primal
    assert sum(r.iterations for r in path[1:]) < sum(r.iterations for r in cold[1:])
    again = solve(D, Y, betas[-1], W0=path[-1].W)  # warm start at the solution: nothing to do
    assert again.converged and again.iterations == 0


def test_solve_path_rejects_increasing_betas():
    D, Y = spike_problem()
    with pytest.raises(NeuroreconError, match="non-increasing"):
        solve_path(D, Y, [1.0, 2.0])
    with pytest.raises(NeuroreconError, match="empty"):
        solve_path(D, Y, [])


# ---------------------------------------------------------------- determinism, dtypes, options


def test_same_inputs_same_bits():
    D, Y = spike_problem(seed=9)
    beta = 0.1 * beta_max(D, Y)
    a, b = solve(D, Y, beta), solve(D, Y, beta)
    assert np.array_equal(a.W, b.W) and np.array_equal(a.dual_point, b.dual_point)
    assert a.primal == b.primal and a.gap == b.gap and np.array_equal(a.support, b.support)


def test_dictionary_dtypes_and_layouts_agree():
    D, Y = spike_problem(seed=10)
    beta = 0.1 * beta_max(D, Y)
    ref = solve(D, Y, beta)
    for variant in (D.astype(bool), D.astype(np.uint8), D.astype(np.float64), np.asfortranarray(D),
                    DictionaryOperator(D)):
        res = solve(variant, Y, beta)
        assert abs(res.primal - ref.primal) <= 1e-9 * ref.primal


@pytest.mark.parametrize("kind", ["binary", "counts", "float32", "float64"])
def test_correlations_are_float64_accurate(kind):
    rng = np.random.default_rng(11)
    D = (rng.random((500, 300)) < 0.3).astype(np.float32)
    if kind == "counts":
        D *= rng.integers(0, 20, D.shape)
    elif kind == "float32":
        D *= rng.random(D.shape, dtype=np.float32)
    elif kind == "float64":
        D = D * rng.random(D.shape)
    op = DictionaryOperator(D)
    assert op.exact_float32 == (kind in ("binary", "counts"))
    R = rng.standard_normal((500, 4)) * np.array([1e-3, 1.0, 1e3, 1e-9])
    exact = D.astype(np.float64).T @ R
    Z = op.correlations(R)
    assert np.all(np.abs(Z - exact) <= op.correlation_error(R))  # the bound the certificate uses
    assert np.all(np.abs(Z - exact) <= 1e-10 * np.abs(exact).max(axis=0))  # each class to 1e-10
    cols = np.array([5, 1, 299])
    assert np.all(np.abs(op.correlations(R, cols) - exact[cols]) <= op.correlation_error(R, cols))
    assert np.all(op.correlation_error(R) <= 1e-9 * np.abs(R).max(axis=0) * op.col_abs_sums[:, None])


def test_screening_is_safe():
    D, Y = spike_problem(n=120, P=400, seed=12)
    beta = 0.2 * beta_max(D, Y)
    on, off = solve(D, Y, beta, tol=1e-9, screen=True), solve(D, Y, beta, tol=1e-9)
    assert on.info["screened"] > 0 and off.info["screened"] == 0
    assert abs(on.primal - off.primal) <= 1e-9 * off.primal
    assert np.array_equal(on.support, off.support)


def test_constant_and_duplicate_columns():
    D, Y = spike_problem(seed=13)
    D = np.hstack([np.ones((D.shape[0], 1), np.float32), D, D[:, :5]])
    beta = 0.1 * beta_max(D, Y)
    res = solve(D, Y, beta)
    ref = solve(D, Y, beta, solver="cvxpy")
    assert not np.any(res.W[0])  # the all-ones column is the intercept's job
    assert abs(res.primal - ref.primal) <= 1e-6 * ref.primal


def test_single_output_and_predict():
    D, Y = spike_problem(seed=14)
    y = Y[:, 0] * 2 - 1  # +-1 targets, one output
    res = solve(D, y, 0.1 * beta_max(D, y))
    assert res.W.shape == (D.shape[1], 1) and res.intercept.shape == (1,)
    pred = res.predict(D)
    assert np.allclose(pred, D.astype(np.float64) @ res.W + res.intercept)


def test_scs_reference_runs():
    D, Y = spike_problem(n=40, P=30, seed=15)
    beta = 0.2 * beta_max(D, Y)
    scs = solve(D, Y, beta, solver="cvxpy", cvxpy_solver="SCS")
    nat = solve(D, Y, beta)
    assert scs.solver == "cvxpy-scs"
    assert abs(scs.primal - nat.primal) <= 1e-4 * nat.primal


# ---------------------------------------------------------------- the sub-problem's Newton phase


def gram_problem(seed=21, beta_fraction=0.005):
    """A working-set sub-problem in Gram form where nearly every row is selected: spike counts
    beside near-copies of themselves (5 % of entries flipped, as column generation's perturbed
    copies are) and a small beta, the regime where coordinate descent needs thousands of epochs."""
    D, Y = spike_problem(n=300, P=60, C=4, seed=seed, counts=True)
    flipped = np.random.default_rng(seed).random(D.shape) < 0.05
    D = np.hstack([D, np.where(flipped, 1 - np.minimum(D, 1), D)])
    Dc, Yc = D - D.mean(axis=0), Y - Y.mean(axis=0)
    G, B = Dc.T.astype(np.float64) @ Dc, Dc.T.astype(np.float64) @ Yc
    beta = beta_fraction * np.linalg.norm(B, axis=1).max()
    return G, B, (Yc**2).sum(axis=0), beta


def gram_objective(G, B, W, beta):
    return 0.5 * np.vdot(W, G @ W) - np.vdot(B, W) + beta * np.linalg.norm(W, axis=1).sum()


def test_newton_steps_never_raise_the_objective_and_reach_the_kkt_point():
    G, B, yy, beta = gram_problem()
    W = np.zeros_like(B)
    values = [gram_objective(G, B, W, beta)]
    for _ in range(40):  # one step (an epoch, then a Newton step) at a time
        W, steps, cert = support_newton(G, B, W, yy, beta, 1e-9 * np.sum(yy), 1)
        assert steps == 1
        values.append(gram_objective(G, B, W, beta))
        if cert.gap_abs <= 1e-9 * np.sum(yy):
            break
    assert np.all(np.diff(values) <= 1e-9 * abs(values[0]))
    assert cert.gap_abs <= 1e-9 * np.sum(yy) and len(values) < 40
    H = B - G @ W
    on = np.any(W != 0, axis=1)
    assert on.sum() > 0.8 * len(W)  # the regime the phase is for
    norms = np.linalg.norm(W[on], axis=1, keepdims=True)
    assert np.allclose(H[on], beta * W[on] / norms, atol=1e-5 * beta)
    assert np.all(np.linalg.norm(H[~on], axis=1) <= beta * (1 + 1e-6))


def test_a_newton_step_on_collinear_support_columns_is_skipped_not_raised():
    """Two identical columns at large row norms: ``G_SS + beta / ||w||`` is singular to rounding,
    so no Cholesky factor exists; the step reports no descent and leaves W for the gradient phase."""
    G = np.array([[1.0, 1.0], [1.0, 1.0]])
    B = np.array([[1.0], [1.0]])
    W = np.array([[1e20], [1e20]])
    Ht = (B - G @ W).T
    assert not _newton_step(G, W, Ht, np.array([0, 1]), 1e-3)
    assert np.array_equal(W, [[1e20], [1e20]])


def test_newton_phase_matches_the_accelerated_gradient_optimum():
    """The sub-problem solve (coordinate descent, then Newton for the group penalty) and FISTA
    alone reach one optimum, Newton within a few dozen steps."""
    G, B, yy, beta = gram_problem(seed=22)
    tol = 1e-9 * np.sum(yy)
    W_newton, used, cert = bcd(G, B, np.zeros_like(B), yy, beta, "group", tol, 20_000)
    W_fista, _, cert_fista = accelerated_gradient(G, B, np.zeros_like(B), yy, beta, "group", tol, 200_000)
    _, _, cert_cd = bcd(G, B, np.zeros_like(B), yy, beta, "group", tol, NEWTON_AFTER)
    assert cert_cd.gap_abs > 1e3 * tol  # coordinate descent alone is far from done: the phase is needed
    assert cert.gap_abs <= tol and cert_fista.gap_abs <= tol
    assert abs(gram_objective(G, B, W_newton, beta) - gram_objective(G, B, W_fista, beta)) <= 2 * tol
    assert used < NEWTON_AFTER + 60


# ---------------------------------------------------------------- column generation


def test_dual_violation_finds_columns_that_help():
    D, Y = spike_problem(n=100, P=200, seed=16)
    base, extra = D[:, :100], D[:, 100:]
    beta = 0.1 * beta_max(D, Y)
    res = solve(base, Y, beta)
    assert np.all(dual_violation(base, res.dual_point, beta) <= 1 + 1e-12)
    v = dual_violation(extra, res.dual_point, beta)
    manual = np.linalg.norm(extra.astype(np.float64).T @ res.dual_point, axis=1) / beta
    assert np.allclose(v, manual)
    assert v.max() > 1  # some new columns violate the dual constraint ...
    best = extra[:, np.argsort(-v)[:10]]
    grown = solve(np.hstack([base, best]), Y, beta)
    assert grown.primal < res.primal  # ... and adding them lowers the objective
    assert dual_violation(extra[:, 0], res.dual_point, beta).shape == (1,)


# ---------------------------------------------------------------- standardized columns


def sigma(D):
    d = D.astype(np.float64)
    s = d.std(axis=0)
    s[s == 0] = 1.0
    return s


@pytest.mark.parametrize("penalty", ["group", "l1"])
def test_standardized_solve_is_the_solve_on_scaled_columns(penalty):
    """standardize=True is the plain problem on D / sigma, with W returned for D's own columns;
    the exact float32 products still serve the integer D."""
    D, Y = spike_problem(seed=21, counts=True)
    D[:, 3] = 2.0  # a constant column: sigma 1, never selected
    s = sigma(D)
    top = beta_max(D, Y, penalty, standardize=True)
    assert np.isclose(top, beta_max(D / s, Y, penalty), rtol=1e-12)
    beta = 0.1 * top
    std = solve(D, Y, beta, penalty=penalty, standardize=True)
    plain = solve(D / s, Y, beta, penalty=penalty)
    ref = solve(D, Y, beta, penalty=penalty, standardize=True, solver="cvxpy")
    assert std.converged and std.info["exact_float32"]
    assert np.allclose(std.column_scale, s)
    assert abs(std.primal - plain.primal) <= 1e-6 * plain.primal
    assert abs(std.primal - ref.primal) <= 1e-6 * ref.primal
    assert np.allclose(std.W * s[:, None], plain.W, atol=1e-4 * np.abs(plain.W).max())
    weighted = 0.5 * ((D @ std.W + std.intercept - Y) ** 2).sum() + beta * (
        (s * np.linalg.norm(std.W, axis=1)).sum() if penalty == "group" else (s[:, None] * np.abs(std.W)).sum())
    assert np.isclose(std.primal, weighted, rtol=1e-10)  # the weighted objective, W in D's units
    assert np.allclose(std.predict(D), D @ std.W + std.intercept)
    assert std.W[3].tolist() == [0.0] * Y.shape[1]
    again = evaluate(D, Y, std.W, beta, penalty=penalty, standardize=True)
    assert np.isclose(again.primal, std.primal, rtol=1e-12) and np.allclose(again.W, std.W)


def test_standardized_kkt_and_dual_violation():
    """KKT of the weighted problem: ||d_p^T R|| = beta sigma_p on the support, <= elsewhere; a new
    column's violation is judged with its own sigma; warm starts and paths take W in D's units."""
    D, Y = spike_problem(n=100, P=200, seed=22, counts=True)
    base, extra = D[:, :100], D[:, 100:]
    s = sigma(base)
    beta = 0.1 * beta_max(base, Y, standardize=True)
    res = solve(base, Y, beta, standardize=True, tol=1e-12)
    R = Y - base.astype(np.float64) @ res.W - res.intercept
    Z = np.linalg.norm(base.astype(np.float64).T @ R, axis=1)
    nz = np.any(res.W != 0, axis=1)
    assert nz.sum() > 5
    assert np.allclose(Z[nz], beta * s[nz], rtol=1e-5)
    assert np.all(Z[~nz] <= beta * s[~nz] * (1 + 1e-6))
    v = dual_violation(extra, res.dual_point, beta, standardize=True)
    assert np.allclose(v, np.linalg.norm(extra.astype(np.float64).T @ res.dual_point, axis=1) / beta / sigma(extra))
    assert v.max() > 1
    warm = solve(base, Y, beta, standardize=True, W0=res.W)
    assert warm.outer_iterations <= 1 and np.isclose(warm.primal, res.primal, rtol=1e-6)
    path = solve_path(base, Y, [2 * beta, beta], standardize=True)
    assert np.isclose(path[-1].primal, res.primal, rtol=1e-6) and np.allclose(path[-1].column_scale, s)
    op = DictionaryOperator(base)
    with pytest.raises(NeuroreconError, match="standardize=False"):
        solve(op, Y, beta, standardize=True)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda D, Y: (np.where(np.arange(D.size).reshape(D.shape) == 7, np.nan, D), Y, 1.0), "NaN or infinite"),
        (lambda D, Y: (np.where(np.arange(D.size).reshape(D.shape) == 7, np.inf, D), Y, 1.0), "NaN or infinite"),
        (lambda D, Y: (D, np.where(np.arange(Y.size).reshape(Y.shape) == 3, np.nan, Y), 1.0), "Y contains NaN"),
        (lambda D, Y: (D, Y[:-1], 1.0), "samples but D has"),
        (lambda D, Y: (D, Y[:, :, None], 1.0), "Y must have shape"),
        (lambda D, Y: (D, Y, -1.0), "beta must be finite and > 0"),
        (lambda D, Y: (D, Y, 0.0), "beta must be finite and > 0"),
        (lambda D, Y: (D, Y, float("nan")), "beta must be finite and > 0"),
        (lambda D, Y: (D, Y, "big"), "beta must be a number"),
        (lambda D, Y: (D[:, :0], Y, 1.0), "D is empty"),
        (lambda D, Y: (D[:0], Y[:0], 1.0), "D is empty"),
        (lambda D, Y: (D[0], Y, 1.0), "D must be a matrix"),
        (lambda D, Y: (np.array([["a"] * 3] * 3), Y[:3], 1.0), "D must be numeric"),
    ],
)
def test_bad_input_raises(change, match):
    D, Y = spike_problem(n=20, P=10)
    D2, Y2, beta = change(D, Y)
    with pytest.raises(NeuroreconError, match=match):
        solve(D2, Y2, beta)


def test_bad_options_raise():
    D, Y = spike_problem(n=20, P=10)
    for kwargs, match in [
        ({"penalty": "l2"}, "penalty must be one of"),
        ({"solver": "mosek"}, "solver must be one of"),
        ({"tol": 0}, "tol must be in"),
        ({"max_iter": 0}, "max_iter must be"),
        ({"W0": np.zeros((3, 3))}, "W0 must have shape"),
        ({"intercept0": np.zeros(7)}, "intercept0 must be"),
        ({"solver": "cvxpy", "cvxpy_solver": "GUROBI"}, "cvxpy_solver must be one of"),
    ]:
        with pytest.raises(NeuroreconError, match=match):
            solve(D, Y, 1.0, **kwargs)
    with pytest.raises(NeuroreconError, match="built with fit_intercept=True"):
        solve(DictionaryOperator(D), Y, 1.0, fit_intercept=False)
    with pytest.raises(NeuroreconError, match="d_columns must have shape"):
        dual_violation(D[:5], np.zeros((20, 3)), 1.0)
