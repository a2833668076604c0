"""The sweepable grid point of `bg21-cifar` (runs in a sweep worker process).

One run is constant SGD (no momentum, no decay) at temperature ``T = η/B`` — ``η`` from
:func:`sgdnoise.theory.conventions.lr_from_temperature` — for a fixed number of epochs, so
that the SDE time ``t = η·steps = T·N·epochs`` is the same for every (η, B) with the same
T (Bradley & Gomez-Uribe 2021, §3: equal T and equal t give the same law in the SDE limit).
Its test loss is scored on two test sets: the real CIFAR-10 test images (sampling shift)
and the same images under the pixel transform of :data:`sgdnoise.nets.shifts.DOMAIN_SHIFT`
(domain shift).  Importing this module imports no torch.
"""

from __future__ import annotations

import math

from ..validation import integer, positive
from ._grid import late_mean, set_threads
from ._netdata import dataset

#: the sweeps store's name for :func:`bg21_point`
FUNCTION = "sgdnoise.experiments._bg21_cifar_worker:bg21_point"


def bg21_point(
    *,
    arch: str,
    width: int,
    depth: int,
    batch_norm: bool,
    T: float,
    batch: int,
    seed: int,
    dataset_name: str,
    data_dir: str,
    n_train: int,
    n_test: int,
    image_size: int,
    data_seed: int,
    epochs: int,
    late_fraction: float,
    contrast: float,
    brightness: float,
    device: str,
    threads: int,
    shift: bool = False,
    shift_T: float = 1e-4,
    shift_batch: int = 32,
    shift_time: float = 2.0,
) -> dict:
    """One grid point: constant SGD at ``η = T·B`` for ``epochs`` epochs from init ``seed``.

    Metrics: ``test_loss`` (sampling shift) and ``domain_loss`` (domain shift), each the
    mean over the last ``late_fraction`` of the per-epoch evaluations (constant SGD never
    settles: one final value would carry the step-to-step fluctuation); the matching
    accuracies; ``train_loss``; ``lr``.  A run whose loss explodes returns status
    ``diverged`` with its step and NaN scores (a result, not an error).

    ``shift``: also decompose the final iterate's test loss into BG21's shift penalty and
    noise contribution for both test sets (:func:`._bg21_cifar_shift.decompose`: minima by
    cold SGD at temperature ``shift_T``, batch ``shift_batch``, SDE time ``shift_time``),
    recorded as ``sampling_*`` and ``domain_*``.
    """
    set_threads(threads)
    from ..nets import evaluate, make_model, train
    from ..theory.conventions import lr_from_temperature

    common = dict(
        n_train=n_train, n_test=n_test, data_dir=data_dir, data_seed=data_seed,
        image_size=image_size, device=device,
    )  # fmt: skip
    data = dataset(dataset_name, **common)
    shifted = dataset(
        dataset_name, **common, domain_shift=dict(contrast=contrast, brightness=brightness)
    )
    lr = lr_from_temperature(T, batch)
    net = make_model(
        arch, input_shape=data.input_shape, num_outputs=data.num_classes, width=width,
        depth=depth, batch_norm=batch_norm, seed=seed, device=device,
    )  # fmt: skip

    def domain(model, rec):
        d = evaluate(model, shifted.x_test, shifted.y_test)
        rec["domain_loss"], rec["domain_accuracy"] = d["loss"], d["accuracy"]

    res = train(net, data, lr=lr, batch_size=batch, epochs=epochs, seed=seed, callback=domain)
    scores = ("test_loss", "domain_loss", "test_accuracy", "domain_accuracy", "train_loss")
    if res.diverged:
        return dict(
            status="diverged", diverged_step=float(res.diverged_step), lr=lr,
            **dict.fromkeys(scores, math.nan),
        )  # fmt: skip
    h = res.history
    epoch = [r["epoch"] for r in h]
    extra = {}
    if shift:
        from ._bg21_cifar_shift import decompose

        tests = {"sampling": (data.x_test, data.y_test), "domain": (shifted.x_test, shifted.y_test)}
        extra = decompose(net, data, tests, T=shift_T, batch=shift_batch, time=shift_time,
                          seed=seed)  # fmt: skip
    return dict(
        lr=lr,
        **extra,
        **{k: late_mean(h, k, late_fraction) for k in scores},
        curves={k: {"x": epoch, "y": [r[k] for r in h]} for k in ("test_loss", "domain_loss")},
    )


def check_shift(*, shift_T: float = 1e-4, shift_batch: int = 32, shift_time: float = 2.0, **_):
    """The bounds of the decomposition's settings (the spec loader calls this before any run):
    the cold fine-tune's temperature and SDE time are > 0 and its batch is an integer ≥ 1."""
    positive("shift_T", shift_T)
    integer("shift_batch", shift_batch, minimum=1)
    positive("shift_time", shift_time)


bg21_point.validate_config = check_shift
