"""Training: data -> a chip Network, by one of three methods (``neurorecon train --method``).

* :mod:`neurorecon.train.convex`: parameter reconstruction. Witness neurons on the profile's
  grid, their exact spikes as a dictionary, the certified convex readout
  (:mod:`neurorecon.solve`), reconstruction into a Network (``cvx``; ``sg-cvx`` takes its
  witnesses from an SG-trained layer).
* :mod:`neurorecon.train.surrogate`: surrogate-gradient training with Norse, the baseline
  users know (``sg``; the chip network is then :func:`neurorecon.quantize.ptq.sg_ptq`'s).
* :mod:`neurorecon.train.pipeline`: what the command line runs for each method.
"""
