"""The dictionary D as the solvers read it: validated once, its products accurate to float64.

The solvers touch D in three ways: the full correlation pass ``Z = D^T R`` (P x C) once per
working-set iteration, which ranks the columns and certifies dual feasibility; the working set's
centred Gram matrix ``G = Dc_ws^T Dc_ws`` (m x m, extended as columns join); and the residual
``R = Yc - Dc_S W_S`` of the support S. All must be accurate to about 1e-12 relative, because the
gap certificate at 1e-6 is computed from them; yet D is large (n x P float32, up to ~4 GB), so
none may copy D whole, and no column leaves the place where its rows live: only Z, G's blocks
and R's rows travel.

**Exact float32 products.** Spike dictionaries hold integers (0/1 spikes, small counts). A float32
GEMM of integers is exact when every partial sum is an integer below 2^24. So R (float64) is
written as J float32 "digit" matrices of k bits each, ``R = m 2^(1-k) sum_j 2^(-kj) Q_j`` with
integer ``|Q_j| <= 2^(k-1)``, k chosen so that ``max_p ||d_p||_1 * 2^(k-1) <= 2^24``, and
``D^T [Q_0 ... Q_{J-1}]`` is one sgemm whose every entry is exact. The only error is R's
truncation after J digits (below 2^(-kJ) relative; J is chosen for 2^-52, float64's own precision,
so the bound the certificate adds is float64's: with 2^-36 it was ~1e-5 of beta for rare
standardized columns, above a 1e-6 gap). It costs one pass over D with J*C right-hand columns
instead of C: measured 0.20 s at 8000 x 20000, C = 10, against 0.15 s for a plain
(1e-7-accurate) sgemm and 0.47 s for converting D to float64 block by block; the pass is
memory-bound, so 8 digits cost what 6 did (12 ms at 8000 x 1854).
Non-integer float32 dictionaries take that float64 block path; float64 dictionaries use dgemm.

**Row blocks.** D may be held as row blocks ``D_b`` where they were made (memory, disk, Dask
workers: :mod:`neurorecon.solve.row_blocks`); every pass is then a reduction over the blocks.
The digit scale and k are global (k from ``max_p ||d_p||_1`` over all rows), Q is cut into the
blocks' row slices ``Q_b``, and each ``Q_b^T D_b`` is exact, so is their sum (every partial sum
of ``Q^T D`` is an integer below 2^24, whatever the grouping): ``Z`` has the same bits for any
block split. Column sums, squared sums, absolute sums and maxima of an integer D are integers
below 2^53, so they too combine exactly. A single in-memory block is used in place, as before.

**Gram matrix** (:meth:`DictionaryOperator.gram`). For an integer D, ``S = D_ws^T D_ws`` is a
matrix of integers; each block computes its ``D_b[:, new]^T D_b[:, new + old]`` (the columns
joining the working set against all of it) in float32 when every partial sum is below 2^24
(``max_p ||d_p||_1 max_q max_i |D_iq| < 2^24`` over those columns), else in float64 (exact below
2^53), and the blocks' matrices add exactly. With column sums s (exact), the centred Gram is
``G_pq = (n S_pq - s_p s_q) / n`` (an exact integer numerator, one rounding: G is correctly
rounded) when ``n max|S| + max|s_p s_q| < 2^53``, else ``S_pq - s_p s_q / n`` (three roundings,
relative to ``S_pq``); standardized: ``G_pq / (sigma_p sigma_q)`` (two more). It depends only on
S and s, so it has the same bits for any block split. Non-integer dictionaries centre each
block's columns in float64 and add the blocks' products (correct to rounding, not bit-equal
across splits, like their correlations). ``B = Dc_ws^T Yc`` is ``correlations(Yc, ws)``.

**Residual** (:meth:`DictionaryOperator.residual`). ``D_S V`` (V = W_S, or ``W_S / sigma_S``
standardized) by the same digit trick the other way round: V (|S| x C) is written as J float32
digit matrices, ``V = v 2^(1-k) sum_j 2^(-kj) Q_j`` (v_c = max_p |V_pc| per class), with k such
that ``L 2^(k-1) <= 2^24`` for ``L = sum_{p in S} max_i |D_ip|`` (>= every row's
``||D_i,S||_1``, split-independent), and J = ceil(52/k). Each block returns its rows of the exact
float32 products ``D_b[:, S] Q_j`` (n_b x J*C), recombined on the client in float64 in a fixed
order (smallest digit first): every row has the same bits for any split. Then
``R = Yc - D_S V + 1 (mu_S^T W_S)``, centred again. Bound, per entry and class::

    |(D_S V)^_ic - (D_S V)_ic| <= e_c = L v_c (2^(-kJ) + (J + 4) 2^-53 [+ 2^-52 standardized])

(truncation after J digits, the recombination's roundings, the division by sigma), and per class
``||R_c - R*_c||_2 <= sqrt(n) e_c + 8 * 2^-53 (||R_c|| + ||Yc_c|| + ||(D_S V)_c||)``, R* the exact
residual (centring is a projection and does not grow the first term; the second covers the
subtraction and centring roundings). Integer dictionaries whose L exceeds 2^19 (k < 6), and
non-integer ones, take a float64 product per block with ``e_c = L v_c (|S| + 2) 2^-53``.

**On a device.** Row blocks held in memory with a torch device (``RowBlocks.of(arrays,
device=...)``, what ``--device`` gives the classifier) run the digit products and the float32
Gram products there: the same exact integer sums, in IEEE single precision (TF32 off), so the
same bits as on the CPU; everything else stays in numpy.

What the certificate needs exact, and what not (:mod:`neurorecon.solve.certificate`): the dual
point is ``Lambda = s R`` for the R computed here, whatever R is; its feasibility is checked with
``Z = D^T R`` and ``correlation_error`` below, and its value ``<Lambda, Yc> - ||Lambda||^2 / 2``
is computed from R itself. Only the primal value ``0.5 ||R*||^2 + beta Omega(W)`` needs the exact
residual: it is taken at ``(||R_c|| + bound_c)^2 >= ||R*_c||^2``, so the reported gap bounds W's
suboptimality despite R's error (which is ~1e-15 relative: the primal moves in its last digits).

**Intercept.** With an unpenalised intercept the problem is the same problem on the centred
dictionary ``Dc = D - 1 dbar^T``. Dc is never formed: for any R whose columns sum to zero,
``Dc^T R = D^T R``; the Gram matrix is centred from the column sums and the residual by its mean
term (above).

**Standardized columns** (``standardize=True``). The operator then stands for ``D diag(1/sigma)``,
``sigma_p`` the standard deviation of column p (1 for a constant column), as glmnet's
``standardize`` does: every product is taken on the integer D exactly as above and divided by
sigma in float64 (one more rounding, counted in the error bound). D itself is never scaled.
"""

from __future__ import annotations

import functools

import numpy as np

from neurorecon.errors import NeuroreconError
from neurorecon.solve.row_blocks import MemoryBlocks, RowBlocks, device_twin

_EXACT_LIMIT = 2.0**24  # float32 represents every integer up to 2^24
_DIGIT_BITS_TOTAL = 52  # precision of the digit expansion of R (relative to max |R|): float64's
_PRODUCT_BITS_TOTAL = 52  # precision of the digit expansion of W in ``D W`` (the residual: float64's)
_MIN_DIGIT_BITS = 6  # below this the digit expansion needs too many sgemm columns
_BLOCK_BYTES = 32 << 20  # temporary float64 blocks stay below this
# In memory, a product with at least this fraction of the columns runs on all of them (zero
# weights elsewhere) instead of copying those columns out first: the copy costs more than the
# extra columns' share of a memory-bound product.
DENSE_PRODUCT_FRACTION = 0.5


class DictionaryOperator:
    """A validated dictionary D (n x P) with its column statistics and accurate products.

    ``D`` is an array or :class:`~neurorecon.solve.row_blocks.RowBlocks` (row blocks in memory,
    on disk or on a Dask cluster: every pass is then a reduction over the blocks, computed where
    they live, with the same bits as on the stacked matrix, see the module docstring). An array is
    used in place when it is a contiguous float32 or float64 array (no copy); other numeric
    dtypes (bool, uint8, int) are converted once to float32. Column-major float32 is the fastest
    layout. Build it once and pass it to :func:`solve`, :func:`solve_path` and :func:`beta_max`
    to skip the validation pass on every call.
    """

    def __init__(self, D, fit_intercept: bool = True, standardize: bool = False):
        self.blocks = _as_blocks(D)
        n, P = self.blocks.shape
        self.n, self.P = n, P
        self.fit_intercept = bool(fit_intercept)
        self.standardize = bool(standardize)
        sums, sq_sums, raw_abs_sums, integer, nonneg, col_max = _combine_stats(self.blocks.map(_column_stats))
        self.integer = integer
        self._raw_sums = sums  # exact for an integer D (integers below 2^53)
        self._raw_abs_sums = raw_abs_sums
        self._col_max = col_max  # max_i |D_ip|: bounds ||row of D[:, S]||_1 by sum_{p in S} col_max_p
        self.column_scale = column_scale(sums, sq_sums, n) if self.standardize else np.ones(P)
        sums, sq_sums, abs_sums = sums / self.column_scale, sq_sums / self.column_scale**2, raw_abs_sums / self.column_scale
        self.col_sums = sums
        self.col_abs_sums = abs_sums  # ||d_p||_1: bounds the rounding error of d_p^T r
        self.col_means = sums / n if self.fit_intercept else np.zeros(P)
        # Squared norms of the (centred) columns: the coordinate-descent Lipschitz constants and
        # the screening radii. Clipped at 0 against rounding for (near-)constant columns.
        centred = sq_sums - n * self.col_means**2
        self.col_sq_norms = np.maximum(centred, 0.0)
        tiny = 1e-12 * np.maximum(sq_sums, 1e-300)
        self.col_sq_norms[self.col_sq_norms <= tiny] = 0.0  # constant columns: useless with an intercept
        self.col_norms = np.sqrt(self.col_sq_norms)
        self._digit_bits = 0
        if integer and self.blocks.dtype == np.float32:
            bits = int(np.floor(np.log2(_EXACT_LIMIT / max(float(raw_abs_sums.max()), 1.0)))) + 1
            if bits >= _MIN_DIGIT_BITS:
                self._digit_bits = bits
        if self._digit_bits:  # R's digit truncation, plus the float64 recombination
            digits = -(-_DIGIT_BITS_TOTAL // self._digit_bits)
            self._error_factor = 2.0 ** (-self._digit_bits * digits) + 8 * 2.0**-53
        else:  # the worst-case bound of a float64 dot product of length n (any summation order)
            self._error_factor = (n + 2) * 2.0**-53
        if self.standardize:  # the division by sigma
            self._error_factor += 2.0**-52

    def rows(self, idx: np.ndarray) -> "DictionaryOperator":
        """The operator of D's rows ``idx`` (increasing), same settings: a view where D lives."""
        return DictionaryOperator(self.blocks.rows(idx), self.fit_intercept, self.standardize)

    def prefix(self, size: int) -> "DictionaryOperator":
        """The operator of D's first ``size`` columns, same settings."""
        return DictionaryOperator(self.blocks.cols(np.arange(size)), self.fit_intercept, self.standardize)

    @property
    def exact_float32(self) -> bool:
        """True when correlations use the exact float32 digit expansion."""
        return self._digit_bits > 0

    def correlations(self, R: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        """``D[:, cols]^T R`` (len(cols) x C, float64), accurate to ~1e-15 relative.

        ``R`` (n x C, float64). With an intercept, R's columns should sum to zero, so that this
        equals the centred product ``Dc^T R``.
        """
        blocks = self.blocks if cols is None else self.blocks.cols(cols)
        scale = self.column_scale if cols is None else self.column_scale[cols]
        if self._digit_bits:
            Q, digit_scale = _digits(R, self._digit_bits)
            prod = _block_sum(blocks.map(_digit_product, [(q,) for q in blocks.split(Q)]))
            out = _recombine(prod, digit_scale, self._digit_bits)
        else:
            out = _block_sum(blocks.map(_float64_product, [(r,) for r in blocks.split(R)]))
        if self.standardize:
            out /= scale[:, None]
        return out

    def correlation_error(self, R: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        """A bound on ``|correlations(R) - D^T R|``, entry by entry (P x C or len(cols) x C).

        ``||d_p||_1 max|R_c|`` times the relative error of the method: the certificate inflates
        the dual constraint by it, so the dual point stays feasible despite rounding.
        """
        l1 = self.col_abs_sums if cols is None else self.col_abs_sums[cols]
        return np.outer(l1, np.abs(R).max(axis=0, initial=0.0) * self._error_factor)

    def columns(self, idx: np.ndarray) -> np.ndarray:
        """The operator's columns ``idx`` (a copy: D's dtype, float64 when standardized)."""
        cols = self.blocks.columns(idx)
        return cols / self.column_scale[idx] if self.standardize else cols

    def to_operator_units(self, W: np.ndarray) -> np.ndarray:
        """A readout for D as a readout for the operator's columns (``sigma_p W_p``)."""
        return W * self.column_scale[:, None] if self.standardize else W

    def to_dictionary_units(self, W: np.ndarray) -> np.ndarray:
        """A readout for the operator's columns as a readout for D (``W_p / sigma_p``)."""
        return W / self.column_scale[:, None] if self.standardize else W

    def gram(self, new: np.ndarray, old: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The centred Gram blocks ``(Dc[:, new]^T Dc[:, old], Dc[:, new]^T Dc[:, new])`` (float64).

        One reduction over the blocks: each block takes its rows of the columns ``new + old``
        and returns ``D_b[:, new]^T D_b[:, new + old]`` (a small matrix); no column leaves its
        block. For an integer D these are integer sums, exact (float32 when every partial sum is
        below 2^24, else float64, exact below 2^53) whatever the block split; they are centred and
        scaled here (module docstring), so G has the same bits for any split. Other dictionaries
        centre each block's columns in float64 first (correct to rounding).
        """
        new, old = np.asarray(new, dtype=np.intp), np.asarray(old, dtype=np.intp)
        f = len(new)
        if f == 0:
            return np.zeros((0, len(old))), np.zeros((0, 0))
        cols = np.concatenate([new, old])
        blocks = self.blocks.cols(cols)
        if self.integer:
            # every partial sum of d_p^T d_q is at most ||d_p||_1 max|d_q|
            small = self.blocks.dtype == np.float32 and \
                float(self._raw_abs_sums[cols].max()) * float(self._col_max[cols].max()) < _EXACT_LIMIT
            S = _block_sum(blocks.map(_integer_gram, [(f, small)] * blocks.n_blocks))
            if self.fit_intercept:
                s = self._raw_sums
                S = _centre_integer_gram(S, s[new], s[cols], self.n)
        else:
            mu = self._raw_sums[cols] / self.n if self.fit_intercept else np.zeros(len(cols))
            S = _block_sum(blocks.map(_centred_gram, [(f, mu)] * blocks.n_blocks))
        if self.standardize:
            S = S / np.outer(self.column_scale[new], self.column_scale[cols])
        return S[:, f:], S[:, :f]

    def product(self, W_rows: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(D[:, idx] @ V, bound)`` with ``V = W_rows`` in D's units (``W_rows / sigma_idx`` when
        standardized): the uncentred product (n x C float64), computed where the blocks live, and
        a bound on each entry's error, ``bound[c]`` (C,), so that
        ``|out_ic - (D[:, idx] V)_ic| <= bound[c]`` for every row i (module docstring).

        For an integer D, V is written as J float32 digit matrices and each block returns its rows
        of the exact products ``D_b[:, idx] Q_j``, recombined here in a fixed order: every row has
        the same bits for any block split.
        """
        idx = np.asarray(idx, dtype=np.intp)
        V = W_rows / self.column_scale[idx][:, None] if self.standardize else np.asarray(W_rows, dtype=np.float64)
        # V = W / sigma is rounded once when standardized
        rounding = 2.0**-52 if self.standardize else 0.0
        if isinstance(self.blocks.store, MemoryBlocks) and len(idx) >= DENSE_PRODUCT_FRACTION * self.P:
            # most columns: the product on all of D with zero rows in V, instead of a copy of D[:, idx];
            # the other columns' maxima count as 0, so the digits, the sums and the bound are the same
            V_all, col_max = np.zeros((self.P, V.shape[1])), np.zeros(self.P)
            V_all[idx], col_max[idx] = V, self._col_max[idx]
            return block_product(self.blocks, V_all, col_max, self.integer, input_rounding=rounding)
        return block_product(self.blocks.cols(idx), V, self._col_max[idx], self.integer, input_rounding=rounding)

    def residual(self, Yc: np.ndarray, W_rows: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(R, bound)``: the residual ``R = Yc - Dc[:, idx] W_rows`` (n x C float64, centred again
        when fitting an intercept) and a bound on its error per class, ``||R_c - R*_c||_2 <=
        bound[c]`` (C,), R* the exact residual (module docstring). Only R travels: each block
        returns its own rows of ``D[:, idx] V``."""
        DV, entry = self.product(W_rows, idx)
        R = Yc - DV
        if self.fit_intercept:
            R += self.col_means[idx] @ W_rows  # the mean term (the centring below removes it anyway)
            R -= R.mean(axis=0)
        norms = np.sqrt(np.einsum("ic,ic->c", R, R))
        # the products' error (centring is a projection: it does not grow it), plus the roundings
        # of the subtractions and the centring (a few ulps of each entry)
        return R, np.sqrt(self.n) * entry + 8 * 2.0**-53 * (norms + np.sqrt(np.einsum("ic,ic->c", Yc, Yc))
                                                            + np.sqrt(np.einsum("ic,ic->c", DV, DV)))


def block_product(blocks: RowBlocks, V: np.ndarray, col_max: np.ndarray, integer: bool,
                  input_rounding: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(D V, bound)`` for the row blocks D (n x k) and V (k x C float64), computed where the
    blocks live: each returns its rows of the exact digit products ``D_b Q_j`` (integer D) or of
    a float64 product; ``col_max`` (k,) bounds each column's entries (any upper bound will do),
    ``integer`` says D holds integers. ``|out_ic - (D V')_ic| <= bound[c]`` for every row i, V'
    the exact values V was rounded from (each entry within ``input_rounding`` of its magnitude;
    0: V is exact), and every row has the same bits for any block split (module docstring, Residual)."""
    C = V.shape[1]
    if V.shape[0] == 0:
        return np.zeros((blocks.shape[0], C)), np.zeros(C)
    row_l1 = float(np.sum(col_max))  # >= ||D[i, :]||_1 for every row i
    vmax = np.abs(V).max(axis=0)
    bits = 0
    if integer and row_l1 < _EXACT_LIMIT:
        bits = int(np.floor(np.log2(_EXACT_LIMIT / max(row_l1, 1.0)))) + 1
    if bits >= _MIN_DIGIT_BITS:
        digits = -(-_PRODUCT_BITS_TOTAL // bits)
        Q, digit_scale = _digits(V, bits, _PRODUCT_BITS_TOTAL)
        parts = blocks.map(_row_digit_product, [(Q,)] * blocks.n_blocks)
        out = _recombine_rows(parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0), digit_scale, bits)
        factor = 2.0 ** (-bits * digits) + (digits + 4) * 2.0**-53
    else:
        parts = blocks.map(_float64_rows, [(V,)] * blocks.n_blocks)
        out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        factor = (V.shape[0] + 2) * 2.0**-53
    return out, row_l1 * vmax * (factor + input_rounding)


def as_operator(D, fit_intercept: bool = True, standardize: bool = False) -> DictionaryOperator:
    """``D`` itself when it is already an operator with the same settings, else a new one."""
    if isinstance(D, DictionaryOperator):
        for name, asked in (("fit_intercept", bool(fit_intercept)), ("standardize", bool(standardize))):
            if getattr(D, name) != asked:
                raise NeuroreconError(f"the DictionaryOperator was built with {name}={getattr(D, name)}, "
                                      f"but {name}={asked} was asked for")
        return D
    return DictionaryOperator(D, fit_intercept=fit_intercept, standardize=standardize)


def column_scale(sums: np.ndarray, sq_sums: np.ndarray, n: int) -> np.ndarray:
    """Each column's standard deviation over its n rows (1 where the column is constant)."""
    variance = np.maximum(sq_sums / n - (sums / n) ** 2, 0.0)
    sigma = np.sqrt(variance)
    sigma[variance <= 1e-12 * np.maximum(sq_sums / n, 1e-300)] = 1.0
    return sigma


def _as_blocks(D) -> RowBlocks:
    """``D`` as row blocks: given ones checked, an array validated as one in-memory block."""
    if not isinstance(D, RowBlocks):
        return RowBlocks.of([_as_matrix(D)])
    if D.dtype not in (np.float32, np.float64):
        raise NeuroreconError(f"row blocks must be float32 or float64; got {D.dtype}")
    if D.shape[0] == 0 or D.shape[1] == 0:
        raise NeuroreconError(f"D is empty: shape {D.shape}")
    return D


def _as_matrix(D) -> np.ndarray:
    try:
        D = np.asarray(D)
    except (ValueError, TypeError) as exc:
        raise NeuroreconError(f"D is not an array of numbers: {exc}") from None
    if D.dtype == bool or np.issubdtype(D.dtype, np.integer):
        D = D.astype(np.float32)
    elif D.dtype not in (np.float32, np.float64):
        if not np.issubdtype(D.dtype, np.floating):
            raise NeuroreconError(f"D must be numeric; got dtype {D.dtype}")
        D = D.astype(np.float64)
    if D.ndim != 2:
        raise NeuroreconError(f"D must be a matrix (n_samples, n_columns); got shape {D.shape}")
    if D.shape[0] == 0 or D.shape[1] == 0:
        raise NeuroreconError(f"D is empty: shape {D.shape}")
    if not (D.flags.c_contiguous or D.flags.f_contiguous):
        D = np.ascontiguousarray(D)
    return D


def _column_blocks(D: np.ndarray):
    """Blocks of about 4 MB along D's contiguous axis: (row-slice, col-slice, block)."""
    n, P = D.shape
    if D.flags.f_contiguous and not D.flags.c_contiguous:
        step = max(1, (4 << 20) // (D.itemsize * n))
        for j in range(0, P, step):
            yield slice(None), slice(j, j + step), D[:, j:j + step]
    else:
        step = max(1, (4 << 20) // (D.itemsize * P))
        for i in range(0, n, step):
            yield slice(i, i + step), slice(None), D[i:i + step]


def _column_stats(D: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, bool, np.ndarray]:
    """Column sums, squared norms and absolute sums (float64); whether D is integer, non-negative;
    each column's max |D_ip| (float64).

    Two blocked passes along the contiguous axis; raises on NaN/inf. For integer float32
    dictionaries whose block sums stay below 2^24 the sums are exact in float32 (the fast path
    for spike data).
    """
    n, P = D.shape
    lo, hi, integer = np.inf, -np.inf, True
    col_max = np.zeros(P)
    for _, cols, x in _column_blocks(D):
        x_lo, x_hi = x.min(axis=0), x.max(axis=0)
        lo, hi = min(lo, float(x_lo.min())), max(hi, float(x_hi.max()))  # NaN propagates through min/max
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise NeuroreconError("D contains NaN or infinite values")
        col_max[cols] = np.maximum(col_max[cols], np.maximum(np.abs(x_lo), np.abs(x_hi)))
        integer = integer and bool(np.array_equal(x, np.rint(x)))
    max_abs = max(abs(lo), abs(hi))
    nonneg = lo >= 0
    binary = integer and nonneg and hi <= 1
    sums = np.zeros(P)
    sq_sums = sums if binary else np.zeros(P)
    abs_sums = sums if nonneg else np.zeros(P)
    for _, cols, x in _column_blocks(D):
        if D.dtype == np.float32 and integer and x.shape[0] * max_abs**2 < _EXACT_LIMIT:
            sums[cols] += x.sum(axis=0, dtype=np.float32)
            if not binary:
                sq_sums[cols] += np.square(x).sum(axis=0, dtype=np.float32)
            if not nonneg:
                abs_sums[cols] += np.abs(x).sum(axis=0, dtype=np.float32)
        else:
            x64 = x.astype(np.float64, copy=False)
            sums[cols] += x64.sum(axis=0)
            if not binary:
                sq_sums[cols] += np.einsum("ij,ij->j", x64, x64)
            if not nonneg:
                abs_sums[cols] += np.abs(x64).sum(axis=0)
    return sums, sq_sums, abs_sums, integer, nonneg, col_max


def _combine_stats(parts: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, bool, np.ndarray]:
    """The column statistics of stacked row blocks from theirs (exact for integer dictionaries:
    every sum is an integer below 2^53)."""
    if len(parts) == 1:
        return parts[0]
    sums, sq_sums, abs_sums = (functools.reduce(np.add, [p[i] for p in parts]) for i in range(3))
    return (sums, sq_sums, abs_sums, all(p[3] for p in parts), all(p[4] for p in parts),
            functools.reduce(np.maximum, [p[5] for p in parts]))


def _block_sum(parts: list[np.ndarray]) -> np.ndarray:
    """The sum of the blocks' partial products, in block order (a single block's used as is)."""
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _digits(R: np.ndarray, bits: int, total: int = _DIGIT_BITS_TOTAL) -> tuple[np.ndarray, np.ndarray]:
    """R (n x C) as ``digits`` float32 integer matrices ``Q = [Q_0 ... Q_{J-1}]`` (n x J*C) and
    the per-class scale: ``R = scale 2^(1-k) sum_j 2^(-kj) Q_j`` up to 2^-total (see module doc)."""
    n, C = R.shape
    scale = np.abs(R).max(axis=0)  # one scale per class: each class keeps its own 2^-total
    scale[scale == 0] = 1.0
    digits = -(-total // bits)
    Q = np.empty((n, digits * C), dtype=np.float32)
    q = R * (2.0 ** (bits - 1) / scale)  # |q| <= 2^(bits-1)
    for j in range(digits):
        d = np.rint(q)
        Q[:, j * C:(j + 1) * C] = d
        q = (q - d) * 2.0**bits  # |q - d| <= 1/2, so |q| <= 2^(bits-1) again
    return Q, scale


def _digit_product(x: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """``Q^T x`` (J*C x P float32) for an integer float32 block x: every partial sum is an integer
    below 2^24, so it is exact, and so is its sum over blocks (this layout is the faster sgemm)."""
    return Q.T @ x


@device_twin(_digit_product)
def _digit_product_on_device(x, Q: np.ndarray) -> np.ndarray:
    """:func:`_digit_product` for a float32 tensor x on its device (exact: the same bits)."""
    import torch
    return (torch.as_tensor(Q, device=x.device).T @ x).cpu().numpy()


def _recombine(prod: np.ndarray, scale: np.ndarray, bits: int) -> np.ndarray:
    """``D^T R`` (P x C float64) from the exact digit products ``Q^T D`` (smallest digits first)."""
    C = scale.shape[0]
    out = np.zeros((C, prod.shape[1]))
    for j in reversed(range(prod.shape[0] // C)):
        out += prod[j * C:(j + 1) * C].astype(np.float64) * 2.0 ** (-bits * j)
    out *= (scale * 2.0 ** (1 - bits))[:, None]
    return out.T


def _integer_gram(x: np.ndarray, f: int, small: bool) -> np.ndarray:
    """``x[:, :f]^T x`` (f x m float64) for an integer block: float32 when ``small`` (every
    partial sum below 2^24), else float64 (below 2^53): exact either way."""
    if small:
        a = x[:, :f]
        return (a.T @ x).astype(np.float64)
    x64 = x.astype(np.float64)
    return x64[:, :f].T @ x64


@device_twin(_integer_gram)
def _integer_gram_on_device(x, f: int, small: bool) -> np.ndarray:
    """:func:`_integer_gram` for a tensor x on its device (exact: the same bits)."""
    if small:
        return (x[:, :f].T @ x).cpu().numpy().astype(np.float64)
    x64 = x.double()
    return (x64[:, :f].T @ x64).cpu().numpy()


def _centred_gram(x: np.ndarray, f: int, mu: np.ndarray) -> np.ndarray:
    """``(x - mu)[:, :f]^T (x - mu)`` in float64 for a non-integer block (correct to rounding)."""
    xc = x.astype(np.float64) - mu
    return xc[:, :f].T @ xc


def _centre_integer_gram(S: np.ndarray, s_new: np.ndarray, s_all: np.ndarray, n: int) -> np.ndarray:
    """``S - s_new s_all^T / n`` from the exact integer Gram S and column sums s: as
    ``(n S - s_new s_all^T) / n`` (exact numerator, one rounding) when every term is an integer
    below 2^53, else with one rounding per term. Either way the same bits for any block split."""
    outer = np.outer(s_new, s_all)
    if n * float(np.abs(S).max(initial=0.0)) + float(np.abs(outer).max(initial=0.0)) < 2.0**53:
        return (n * S - outer) / n
    return S - outer / n


def _row_digit_product(x: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """``x Q`` (n_b x J*C float32) for an integer block x (its support columns): every partial sum
    is an integer below 2^24 (module docstring), so every entry is exact."""
    if x.dtype != np.float32:
        x = x.astype(np.float32)  # integers below 2^24: exact
    return x @ Q


@device_twin(_row_digit_product)
def _row_digit_product_on_device(x, Q: np.ndarray) -> np.ndarray:
    """:func:`_row_digit_product` for a tensor x on its device (exact: the same bits)."""
    import torch
    return (x.float() @ torch.as_tensor(Q, device=x.device)).cpu().numpy()


def _recombine_rows(prod: np.ndarray, scale: np.ndarray, bits: int) -> np.ndarray:
    """``D V`` (n x C float64) from the exact digit products ``D Q`` (smallest digits first)."""
    C = scale.shape[0]
    out = np.zeros((prod.shape[0], C))
    for j in reversed(range(prod.shape[1] // C)):
        out += prod[:, j * C:(j + 1) * C].astype(np.float64) * 2.0 ** (-bits * j)
    out *= scale * 2.0 ** (1 - bits)
    return out


def _float64_rows(x: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``x V`` (n_b x C float64) for a block that takes no digit expansion."""
    return x.astype(np.float64, copy=False) @ V


def _float64_product(x: np.ndarray, R: np.ndarray) -> np.ndarray:
    """``x^T R`` (P x C float64) for a block that is not integer float32: dgemm, or float64
    copies of column slices below ``_BLOCK_BYTES`` for float32."""
    if x.dtype == np.float64:
        return x.T @ R
    out = np.empty((x.shape[1], R.shape[1]))
    block = max(1, _BLOCK_BYTES // (8 * max(x.shape[0], 1)))
    for j in range(0, x.shape[1], block):
        out[j:j + block] = x[:, j:j + block].T.astype(np.float64) @ R
    return out
