"""torch networks on real CIFAR-10 and MNIST (may import :mod:`sgdnoise.theory`, never
:mod:`sgdnoise.simulate`).

* data: :func:`load_dataset` (CIFAR-10 python version, MNIST IDX; subsets, binary tasks,
  standardization; the whole set as device tensors), :func:`load_cifar10`, :func:`load_mnist`;
* models: :func:`make_model` (MLP, ConvNet, ResNet-18 / small ResNet, VGG-11; standard, NTK,
  mean-field; batch norm, dropout, α-trick centred output);
* training: :func:`train` → :class:`TrainResult` (SGD, SAM, schedules, stopping, divergence);
* measurements: :class:`HessianOperator`, :func:`hessian_top_eigenvalues`, :func:`lambda_max`,
  :func:`lanczos`, :func:`power_iteration`, :func:`full_gradient_norm`, :func:`weight_change`,
  :func:`evaluate`; the spectrum beyond λmax: :func:`hessian_trace` (Hutchinson / Hutch++
  with its standard error), :func:`hessian_spectral_density` (stochastic Lanczos quadrature);
* ensembles: :func:`train_members` trains many members of one architecture (own rate, seed,
  SAM ρ, dropout p) as one batched SGD step, each following its single ``train`` run bit
  for bit on CPU (per-member divergence and stopping); :func:`ensemble_size` picks how many
  to batch; :func:`train_ensemble` is the older interface on top of it.
"""

from .data_cifar import load_cifar10
from .data_mnist import load_mnist
from .datasets import Dataset, load_dataset, synthetic_dataset
from .device import resolve_device
from .ensemble import ensemble_size, train_ensemble, train_members
from .hessian import (
    HessianOperator,
    Spectrum,
    eigsh_top,
    hessian_top_eigenvalues,
    lambda_max,
    lanczos,
    power_iteration,
)
from .hessian_spectrum import (
    SpectralDensity,
    TraceEstimate,
    hessian_spectral_density,
    hessian_trace,
    hutchinson_trace,
    hutchpp_trace,
    lanczos_quadrature,
)
from .losses import hinge_margin_loss, make_loss
from .metrics import evaluate, full_gradient, full_gradient_norm, snapshot, weight_change
from .models import make_model
from .parameterization import scaled_layers
from .trainer import TrainResult, train

__all__ = [
    "Dataset",
    "HessianOperator",
    "SpectralDensity",
    "Spectrum",
    "TraceEstimate",
    "TrainResult",
    "eigsh_top",
    "ensemble_size",
    "evaluate",
    "full_gradient",
    "full_gradient_norm",
    "hessian_spectral_density",
    "hessian_top_eigenvalues",
    "hessian_trace",
    "hinge_margin_loss",
    "hutchinson_trace",
    "hutchpp_trace",
    "lambda_max",
    "lanczos",
    "lanczos_quadrature",
    "load_cifar10",
    "load_dataset",
    "load_mnist",
    "make_loss",
    "make_model",
    "power_iteration",
    "resolve_device",
    "scaled_layers",
    "snapshot",
    "synthetic_dataset",
    "train",
    "train_ensemble",
    "train_members",
    "weight_change",
]
