"""torch networks on real CIFAR-10 and MNIST (may import :mod:`sgdnoise.theory`, never
:mod:`sgdnoise.simulate`)."""
