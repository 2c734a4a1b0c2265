"""The witness calibration's probe statistics: the compiled ones give numpy's bits and answers."""

import numpy as np
import pytest

from neurorecon.train.convex.witnesses import column_std, magnitude_quantile_below


@pytest.mark.parametrize("shape", [(1, 4), (3, 5), (20_000, 7), (9, 30_000)])
@pytest.mark.parametrize("dtype", [np.int32, np.float64])
def test_column_std_is_numpys_bit_for_bit(shape, dtype):
    rng = np.random.default_rng(shape[0])
    x = (rng.standard_normal(shape) * 3e5 + rng.uniform(-1e6, 1e6, shape[1])).astype(dtype)
    assert np.array_equal(column_std(x), x.std(axis=0))
    window = x[:, ::2]  # a strided view, as the probe's last step is
    assert np.array_equal(column_std(window), window.std(axis=0))


def test_magnitude_quantile_below_answers_as_numpys_percentile():
    rng = np.random.default_rng(0)
    for _ in range(3000):
        values = rng.integers(-40, 40, int(rng.integers(1, 400))).astype(np.int32)
        limit = float(rng.integers(0, 45))
        q = float(rng.choice([0, 1, 37.5, 50, 99, 100]))
        assert magnitude_quantile_below(values, q, limit) == (np.percentile(np.abs(values), q) < limit)


def test_magnitude_quantile_below_where_the_interpolation_straddles_the_limit():
    # 99 % of (n - 1) = 99 exactly: a[99] = 9 below the limit 10, a[100] = 20 above it; then the
    # rank between the two (n = 102: 99.99), where the answer is the interpolation's
    for n, expected in ((101, True), (102, False)):
        values = np.concatenate([np.full(100, 9), np.full(n - 100, -20)]).astype(np.int32)
        assert magnitude_quantile_below(values, 99, 10) == (np.percentile(np.abs(values), 99) < 10)
        assert magnitude_quantile_below(values, 99, 10) is expected
