"""The certified convex readout solver: group (or per-class) Lasso with a primal-dual gap.

Public API: :func:`solve`, :func:`solve_path`, :func:`beta_max`, :func:`dual_violation`,
:func:`evaluate` (the certificate of any W),
:class:`SolveResult`, :class:`DictionaryOperator` (a dictionary validated once, for repeated solves),
:class:`GramCache` (Gram products kept from one solve to the next as a dictionary grows).
"""

from neurorecon.solve.operator import DictionaryOperator
from neurorecon.solve.result import SolveResult
from neurorecon.solve.solvers import GramCache, beta_max, dual_violation, evaluate, solve, solve_path

__all__ = ["DictionaryOperator", "GramCache", "SolveResult", "beta_max", "dual_violation", "evaluate", "solve",
           "solve_path"]
