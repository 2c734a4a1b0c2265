"""The few array operations whose spelling differs between numpy and torch.

The emulator's loop and :mod:`neurorecon.simulate.arithmetic`'s update are written once against
these; :class:`NumpyOps` runs them on numpy (fixed-point state: float64 arrays of integers) and
:class:`TorchOps` on torch tensors of a device (fixed-point state: int64 tensors). Dtypes are
named with numpy's, whatever the library.
"""

from __future__ import annotations

import functools

import numpy as np

from neurorecon.errors import NeuroreconError


class NumpyOps:
    """numpy arrays; fixed-point state in float64 (every value an integer below 2**36)."""

    backend = "emulator"
    fixed_state = np.float64
    exact_float32 = True  # float32 GEMMs are IEEE single precision

    def zeros(self, shape, dtype) -> np.ndarray:
        return np.zeros(shape, dtype)

    def asarray(self, a, dtype) -> np.ndarray:
        return np.asarray(a, dtype=dtype)

    def to_numpy(self, a) -> np.ndarray:
        return a

    def trunc_scale_(self, x: np.ndarray, keep) -> np.ndarray:
        """``x <- trunc0(x * keep)`` in place."""
        x *= keep
        np.trunc(x, out=x)
        return x

    def floor_(self, x: np.ndarray) -> np.ndarray:
        np.floor(x, out=x)
        return x

    def clip_below_(self, x: np.ndarray, low) -> np.ndarray:
        np.maximum(x, low, out=x)
        return x

    def fused(self, step):
        """``step`` as it is: numpy runs each operation in place on cache-resident chunks."""
        return step


# numpy dtypes torch holds as they are (others are converted on the host first)
_TORCH_NATIVE = frozenset(map(np.dtype, (bool, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float32,
                                         np.float64)))


class TorchOps:
    """torch tensors on ``device``; fixed-point state in int64 tensors (exact integers)."""

    backend = "torch"
    fixed_state = np.int64

    def __init__(self, device: str = "cpu"):
        self.torch = import_torch()
        self.device = check_device(device)
        # float32 GEMMs are exact only in IEEE single precision, not TF32 (a CUDA option).
        self.exact_float32 = self.device.type == "cpu" or self.torch.get_float32_matmul_precision() == "highest"

    def _dtype(self, dtype):
        t = self.torch
        if isinstance(dtype, t.dtype):
            return dtype
        return {np.dtype(np.float64): t.float64, np.dtype(np.float32): t.float32, np.dtype(np.int64): t.int64,
                np.dtype(np.int32): t.int32, np.dtype(bool): t.bool}[np.dtype(dtype)]

    def zeros(self, shape, dtype):
        return self.torch.zeros(shape, dtype=self._dtype(dtype), device=self.device)

    def asarray(self, a, dtype):
        if isinstance(a, self.torch.Tensor):
            return a.to(self._dtype(dtype))
        a = np.ascontiguousarray(a)
        if self.device.type == "cpu" or a.dtype not in _TORCH_NATIVE:
            return self.torch.as_tensor(a, dtype=self._dtype(dtype), device=self.device)
        # To a GPU in the array's own dtype, converted there: uint8 spikes cross the bus as 1 byte, not 4.
        return self.torch.as_tensor(a, device=self.device).to(self._dtype(dtype))

    def to_numpy(self, a) -> np.ndarray:
        if a.device.type == "cpu":
            return a.numpy()
        # Through page-locked memory: a GPU copies into it several times faster than into pageable memory.
        return self.torch.empty(a.shape, dtype=a.dtype, pin_memory=True).copy_(a).numpy()

    def trunc_scale_(self, x, keep):
        # int64 * float64 -> float64, exact: |x * numerator| < 2**36 and keep is a multiple of 2**-12.
        return x.copy_(self.torch.trunc(x * keep))

    def floor_(self, x):
        return x.floor_()

    def clip_below_(self, x, low):
        return x.clamp_(min=low)

    def fused(self, step):
        """``step`` compiled by ``torch.compile`` on CUDA: the LIF update's dozen in-place
        operations become one kernel that reads and writes each state array once (the same
        operations, so the same integers). On the CPU, as it is: compiling there needs a C++
        toolchain and takes seconds per network shape (12 random networks: 34 s in a trial),
        and its gain there was not measured."""
        if self.device.type != "cuda":
            return step
        return _compiled(step)


@functools.cache
def _compiled(step):
    torch = import_torch()
    return torch.compile(step, dynamic=True)


def import_torch():
    """torch, or one clear error."""
    try:
        import torch
    except ImportError:
        raise NeuroreconError("the torch backend needs torch (installed by `make setup`)") from None
    return torch


def check_device(device: str):
    """A torch.device for ``device`` ("cpu", "cuda", "cuda:N"), or one clear error."""
    torch = import_torch()
    if not isinstance(device, str):
        raise NeuroreconError(f"device must be 'cpu' or 'cuda' (or 'cuda:N'); got {device!r}")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise NeuroreconError(f"device must be 'cpu' or 'cuda' (or 'cuda:N'); got {device!r}") from None
    if parsed.type not in ("cpu", "cuda"):
        raise NeuroreconError(f"device must be 'cpu' or 'cuda' (or 'cuda:N'); got {device!r}")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise NeuroreconError(f"device {device!r} asked for, but torch.cuda is not available "
                                  f"(torch {torch.__version__}); use device 'cpu'")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise NeuroreconError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return parsed


def array_ops(backend: str = "emulator", device: str | None = None):
    """The ops of a simulation backend: numpy for ``"emulator"``, torch on ``device`` for ``"torch"``."""
    if backend == "torch":
        return TorchOps(device or "cpu")
    if device is not None:
        raise NeuroreconError(f"device is for the torch backend; backend {backend!r} takes none")
    return NumpyOps()
