"""Surrogate-gradient (SG) training with Norse: the baseline, and the source of ``sg-cvx`` witnesses.

:mod:`.architecture` builds the starting float Network, :mod:`.model` makes a float Network a
differentiable torch module, :mod:`.trainer` trains it (:func:`~.trainer.train_surrogate`).
"""
