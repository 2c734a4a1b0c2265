"""Parameter reconstruction: witnesses, their exact dictionary, the certified readout, the Network.

:class:`~neurorecon.train.convex.classifier.ReconstructionClassifier` is the estimator; the
stages are :mod:`.witnesses` and :mod:`.sources` (where candidate neurons come from),
:mod:`.dictionary` (their exact spikes), :mod:`.integer_readout` (the readout on the chip's
grid) and :mod:`.reconstruct` (selected witnesses + readout -> a layered Network).
"""
