"""Training by parameter reconstruction: the certified convex readout solvers.

Public API: :func:`solve`, :func:`solve_path`, :func:`beta_max`, :func:`dual_violation`,
:class:`SolveResult`, :class:`DictionaryOperator` (a dictionary validated once, for repeated solves).
"""

from neurorecon.train.operator import DictionaryOperator
from neurorecon.train.solvers import SolveResult, beta_max, dual_violation, solve, solve_path

__all__ = ["DictionaryOperator", "SolveResult", "beta_max", "dual_violation", "solve", "solve_path"]
