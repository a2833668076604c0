"""sgdnoise: how SGD's noise (learning rate, batch size, width, init scale) selects solutions.

Sub-packages (arrows run one way, DESIGN.md §2):

- :mod:`sgdnoise.theory`      sympy derivations and the numeric functions made from them;
- :mod:`sgdnoise.simulate`    numba simulators (Langevin ensembles, minibatch SGD, perceptron);
- :mod:`sgdnoise.nets`        torch networks on real CIFAR-10 / MNIST;
- :mod:`sgdnoise.experiments` each paper claim as theory-vs-measurement with a verdict.

Root-level infrastructure (:mod:`sgdnoise.errors`, :mod:`sgdnoise.validation`) imports
nothing else of ours, so every layer may use it.
"""

__version__ = "0.1.0"
