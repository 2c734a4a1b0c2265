"""Interchange: NIR import/export, a standalone Lava script, lava-dl netx HDF5.

Public API: :func:`to_nir`, :func:`write_nir`, :func:`from_nir`, :func:`read_nir`,
:func:`write_lava_script`, :func:`write_netx`, :func:`read_netx`; the discretisation convention
is documented in :mod:`neurorecon.interchange.convention` and ``docs/interchange.md``.
"""

from neurorecon.interchange.convention import DEFAULT_DT
from neurorecon.interchange.lava_script import write_lava_script
from neurorecon.interchange.netx import read_netx, write_netx
from neurorecon.interchange.nir_export import to_nir, write_nir
from neurorecon.interchange.nir_graph import read_nir
from neurorecon.interchange.nir_import import NirImportWarning, from_nir

__all__ = [
    "DEFAULT_DT",
    "NirImportWarning",
    "from_nir",
    "read_netx",
    "read_nir",
    "to_nir",
    "write_lava_script",
    "write_netx",
    "write_nir",
]
