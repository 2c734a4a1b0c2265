"""Convolutions as the matrices they apply: one definition for import, export and the Lava Conv process.

A 2-D convolution on a ``(C, H, W)`` input (values flat in C order, as torch flattens them) is the
sparse matrix whose row ``(c_out, y, x)`` holds the kernel taps at the input positions they read,
torch's cross-correlation (zero padding contributes nothing). :func:`conv_taps` says where each
tap lands; :func:`read_kernel` reads a kernel back off a matrix (the mean of each tap's entries;
callers re-lower it with :func:`conv_matrix` to check that the matrix *is* that convolution).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from neurorecon.errors import NeuroreconError


def conv_taps(shape: tuple[int, ...], weight_shape: tuple[int, ...], stride, padding, dilation, groups: int,
              where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int, int]]:
    """Where a 2-D convolution on a (C, H, W) input puts each kernel tap: (rows, cols, flat tap
    index) of its matrix's non-zeros, and the output shape."""
    if len(shape) != 3:
        raise NeuroreconError(f"{where} needs a (C, H, W) input; it receives shape {list(shape)}")
    c_in, h, w = shape
    c_out, c_group, kh, kw = weight_shape
    if groups < 1 or c_in % groups or c_out % groups or c_group != c_in // groups:
        raise NeuroreconError(
            f"{where}: weight {list(weight_shape)} with groups={groups} does not fit {c_in} input channels"
        )
    h_out = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    w_out = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if h_out < 1 or w_out < 1:
        raise NeuroreconError(f"{where}: a {kh}x{kw} kernel does not fit the {h}x{w} input (padding {list(padding)})")
    co, ci, ky, kx, oy, ox = np.meshgrid(np.arange(c_out), np.arange(c_group), np.arange(kh), np.arange(kw),
                                         np.arange(h_out), np.arange(w_out), indexing="ij", sparse=True)
    iy = oy * stride[0] - padding[0] + ky * dilation[0]
    ix = ox * stride[1] - padding[1] + kx * dilation[1]
    channel = (co // (c_out // groups)) * c_group + ci
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    full = np.broadcast_shapes(co.shape, ci.shape, ky.shape, kx.shape, oy.shape, ox.shape)
    keep = np.broadcast_to(inside, full)
    rows = np.broadcast_to((co * h_out + oy) * w_out + ox, full)[keep]
    cols = np.broadcast_to((channel * h + iy) * w + ix, full)[keep]
    taps = np.broadcast_to(((co * c_group + ci) * kh + ky) * kw + kx, full)[keep]
    return rows, cols, taps, (c_out, h_out, w_out)


def conv_matrix(shape: tuple[int, ...], weight: np.ndarray, stride, padding, dilation, groups: int,
                where: str) -> tuple[sparse.csr_matrix, tuple[int, int, int]]:
    """The (C_out*H_out*W_out, C*H*W) matrix of a 2-D convolution on a (C, H, W) input."""
    rows, cols, taps, out = conv_taps(shape, weight.shape, stride, padding, dilation, groups, where)
    matrix = sparse.csr_matrix((weight.reshape(-1)[taps], (rows, cols)), shape=(int(np.prod(out)), int(np.prod(shape))))
    return matrix, out


@dataclass(frozen=True)
class ConvGeometry:
    """A convolution's shape: input (C, H, W), weight (C_out, C_in/groups, kh, kw) and its hyper-parameters."""

    in_shape: tuple[int, int, int]
    weight_shape: tuple[int, int, int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def taps(self, where: str = "convolution") -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int, int]]:
        return conv_taps(self.in_shape, self.weight_shape, self.stride, self.padding, self.dilation, self.groups, where)

    def matrix(self, kernel: np.ndarray, where: str = "convolution") -> sparse.csr_matrix:
        return conv_matrix(self.in_shape, kernel, self.stride, self.padding, self.dilation, self.groups, where)[0]


def read_kernel(matrix: np.ndarray, geometry: ConvGeometry, exact: bool = False) -> np.ndarray:
    """The kernel of ``geometry`` read off ``matrix`` at its taps: each tap's mean over its
    positions, or (``exact``) one of its values, in the matrix's dtype (a mean of equal floats
    need not equal them)."""
    rows, cols, taps, _ = geometry.taps()
    size = int(np.prod(geometry.weight_shape))
    values = np.asarray(matrix)[rows, cols]
    if exact:
        kernel = np.zeros(size, dtype=values.dtype)
        kernel[taps] = values
    else:
        kernel = np.zeros(size)
        np.add.at(kernel, taps, values)
        kernel /= np.maximum(np.bincount(taps, minlength=size), 1)
    return kernel.reshape(geometry.weight_shape)


def conv_geometry(op: dict) -> ConvGeometry:
    """The geometry of a ``Conv2d`` as the NIR import records it (``LinearMap.ops``)."""
    return ConvGeometry(tuple(op["in_shape"]), tuple(op["weight_shape"]), tuple(op["stride"]), tuple(op["padding"]),
                        tuple(op["dilation"]), int(op["groups"]))
