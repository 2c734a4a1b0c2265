"""Training by parameter reconstruction: the certified convex readout solvers.

Public API: :func:`solve`, :func:`solve_path`, :func:`beta_max`, :func:`dual_violation`,
:func:`evaluate` (the certificate of any W),
:class:`SolveResult`, :class:`DictionaryOperator` (a dictionary validated once, for repeated solves).
"""

from neurorecon.train.operator import DictionaryOperator
from neurorecon.train.solvers import SolveResult, beta_max, dual_violation, evaluate, solve, solve_path

__all__ = ["DictionaryOperator", "SolveResult", "beta_max", "dual_violation", "evaluate", "solve", "solve_path"]
