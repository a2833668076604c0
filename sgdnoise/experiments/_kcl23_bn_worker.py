"""KCL23's batch-norm protocol: one sweepable run of a small VGG with or without BN, its λmax
at the iterate and the largest λmax along the segment to the next SGD iterate.

Kaur, Cohen & Lipton (2023), finding (5), "batch-normalization does not consistently produce
smaller λmax"; DESIGN.md §4.5, issue 17.  One run = train a VGG-style net
(:func:`sgdnoise.nets.models.vgg_config`: ``depth`` blocks of conv-conv-maxpool, BN after
each conv when ``batch_norm``) by vanilla SGD (no momentum, augmentation or weight decay)
until the first epoch whose full-training-set accuracy reaches ``target`` (99%); there, at
the iterate θ_t, take the next SGD step on a minibatch of size B,

    θ_{t+1} = θ_t − η ∇L_batch(θ_t),

and measure the top Hessian eigenvalue of the measurement loss L = (1/m) Σ_{i ≤ m} ℓ_i at
the points of the segment between them,

    λ(s) = λmax(∇²L(θ_t + s (θ_{t+1} − θ_t))),  s ∈ {0, 1/(k−1), …, 1}  (k = ``segment_points``),

reporting ``lambda_max`` = λ(0) (KCL23's λmax at the iterate, as in every `kcl23-*` claim)
and ``lambda_segment`` = max_s λ(s) (the λmax the paper takes along the segment between
consecutive iterates for its BN comparison).  Both arms, BN and no BN, are measured the same
way.

**Which BN mode** (our reading of the protocol, stated): the Hessian is that of the loss SGD
descends — BN in *train* mode, normalizing each chunk of ``batch`` points of the fixed
measurement set by that chunk's own statistics (:class:`sgdnoise.nets.HessianOperator`,
``chunk_size = batch``; running statistics untouched) — never the eval-mode network with
running averages, whose curvature is not the one the step η sees.  The step to θ_{t+1} is
taken in the same mode (BN on the step's batch), as SGD takes it.  The step's minibatch is
drawn without replacement from a generator seeded by ``seed`` (the trainer's own next batch
is internal to it; any batch the sampler could give is a legitimate next step).

Each λ(s) is Lanczos on exact Hessian-vector products; λ(0) starts from KCL23's mixed start
(unit gradient + unit Gaussian, :func:`sgdnoise.nets.hessian_top_eigenvalues`) and each
later point from the previous point's top eigenvector + a unit Gaussian (the nearby top
eigenvector converges in a few products; the random half keeps the random start's guarantee
against missing a new top direction).  ``check_power`` also runs the power iteration at
θ_t (smoke's independent check of the eigen-solver on the BN nets).  Importing this module
does no work and imports no torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..sweeps.tasks import sweepable
from ..validation import boolean, choice, in_range, integer, positive
from ._grid_ensemble import EnsemblePlan, shared_settings
from ._kcl23_worker import _data  # one data set per KCL23 protocol config, both workers

FUNCTION = "sgdnoise.experiments._kcl23_bn_worker:kcl23_bn_run"
TARGET = 0.99  # KCL23 measure at the first epoch with ≥ 99% training accuracy


def _check(
    *, data, n_train, n_test, pool, width, depth, batch_norm, lr, batch, max_epochs, n_measure,
    seed, segment_points=5, target=TARGET, data_dir="", hessian_tol=1e-3, hessian_iter=40,
    check_power=False, threads=1, device="cpu",
):  # fmt: skip
    """The one set of bounds of :func:`kcl23_bn_run` (spec time and run time)."""
    return dict(
        data=choice("data", data, ("cifar10", "mnist")),
        n_train=integer("n_train", n_train, minimum=10),
        n_test=integer("n_test", n_test, minimum=10),
        pool=integer("pool", pool, minimum=1, maximum=8),
        width=integer("width", width, minimum=1),
        depth=integer("depth", depth, minimum=1, maximum=5),
        batch_norm=boolean("batch_norm", batch_norm),
        lr=positive("lr", lr),
        batch=integer("batch", batch, minimum=2, maximum=n_train),
        max_epochs=integer("max_epochs", max_epochs, minimum=1),
        n_measure=integer("n_measure", n_measure, minimum=2, maximum=n_train),
        seed=integer("seed", seed, minimum=0),
        segment_points=integer("segment_points", segment_points, minimum=2, maximum=17),
        target=in_range("target", target, 0.0, 1.0, low_open=True),
        data_dir=str(data_dir),
        hessian_tol=positive("hessian_tol", hessian_tol),
        hessian_iter=integer("hessian_iter", hessian_iter, minimum=2),
        check_power=boolean("check_power", check_power),
        threads=integer("threads", threads, minimum=1),
        device=choice("device", device, ("cpu", "cuda", "auto")),
    )


def segment_grid(k: int) -> list[float]:
    """The k evenly spaced s ∈ [0, 1] of the segment (both iterates included)."""
    return [j / (k - 1) for j in range(k)]


def next_iterate_step(net, x, y, lr: float, batch: int, seed: int):
    """The SGD step from the current weights, −η ∇L_batch, on a minibatch of ``batch`` points
    drawn without replacement from a generator seeded by ``seed`` (BN in train mode on that
    batch, running statistics restored; dropout off).  Returns one tensor per trainable
    parameter."""
    import torch

    from ..nets.losses import make_loss
    from ..nets.metrics import measurement_mode, trainable

    params = [p for _, p in trainable(net)]
    g = torch.Generator().manual_seed(1_000_003 + int(seed))
    idx = torch.randperm(len(x), generator=g)[:batch].to(x.device)
    with measurement_mode(net):
        loss = make_loss("cross_entropy")(net(x[idx]), y[idx]).mean()
        grads = torch.autograd.grad(loss, params)
    return [-lr * gr.detach() for gr in grads]


def segment_lambdas(net, xm, ym, step, *, chunk_size, s_values, tol, max_iter, seed):
    """λ(s) at θ_t + s·step for each s (module docstring), the weights restored afterwards.
    Returns ``(lambdas, products)``: the top eigenvalues and the Hessian-vector products spent
    on each."""
    import torch

    from ..nets.hessian import HessianOperator
    from ..nets.hessian_lanczos import lanczos, start_vector
    from ..nets.metrics import trainable

    params = [p for _, p in trainable(net)]
    theta = [p.detach().clone() for p in params]
    lams, products, hint = [], [], None
    try:
        for j, s in enumerate(s_values):
            with torch.no_grad():
                for p, t0, d in zip(params, theta, step):
                    p.copy_(t0 + s * d)
            op = HessianOperator(net, xm, ym, chunk_size=chunk_size)
            if hint is None:  # KCL23's mixed start at the iterate: the gradient
                hint = op.gradient()
            r = start_vector(op.n, seed + j, op.dtype, op.device)
            hn = torch.linalg.vector_norm(hint)
            ok = bool(torch.isfinite(hn)) and float(hn) > 0
            v0 = hint / hn + r if ok else r
            sp = lanczos(
                op.matvec, op.n, k=1, max_iter=max_iter, tol=tol, seed=seed + j,
                dtype=op.dtype, device=op.device, vectors=True, v0=v0,
            )  # fmt: skip
            lams.append(float(sp.eigenvalues[0]))
            products.append(sp.n_products)
            hint = sp.eigenvectors[:, 0]
    finally:
        with torch.no_grad():
            for p, t0 in zip(params, theta):
                p.copy_(t0)
    return lams, products


@sweepable("kcl23-bn-run", validate=_check)
def kcl23_bn_run(
    *, data, n_train, n_test, pool, width, depth, batch_norm, lr, batch, max_epochs, n_measure,
    seed, segment_points=5, target=TARGET, data_dir="", hessian_tol=1e-3, hessian_iter=40,
    check_power=False, threads=1, device="cpu",
) -> dict:  # fmt: skip
    """Train to the first epoch with training accuracy ≥ ``target``; measure λ(s) along the
    segment to the next SGD iterate (module docstring).

    Metrics: ``lambda_max`` (λ(0), the iterate), ``lambda_segment`` (max over s),
    ``lambda_next`` (λ(1)), ``segment_argmax`` (the s of the maximum), ``lambda_s{j}`` (each
    point), ``lambda_max_power`` (power iteration at θ_t, when ``check_power``),
    ``hessian_products``, ``step_norm`` (‖θ_{t+1} − θ_t‖), ``weight_norm`` (‖θ_t‖),
    ``test_accuracy``, ``train_accuracy``, ``reached``/``capped``, ``epochs``, ``steps``,
    ``train_seconds``; status ``diverged`` when SGD blew up.
    """
    c = _check(**locals())
    from ..nets import train
    from ._grid import set_threads

    set_threads(c["threads"])
    d = _data(c)
    net = _net(c, d)
    # the test set is evaluated once, at the measurement point, not every epoch: with 256
    # training images a per-epoch pass over 1017 test images cost more than the training
    r = train(
        net, d, lr=c["lr"], batch_size=c["batch"], epochs=c["max_epochs"],
        target_train_accuracy=c["target"], seed=c["seed"], eval_test=False,
    )  # fmt: skip
    return _measure(net, r, d, c)


def _net(c: dict, d):
    from ..nets import make_model

    return make_model(
        "vgg", input_shape=d.input_shape, num_outputs=d.num_classes, width=c["width"],
        depth=c["depth"], batch_norm=c["batch_norm"], seed=c["seed"], device=d.x_train.device,
    )  # fmt: skip


def _measure(net, r, d, c: dict) -> dict:
    """The run's metrics (:func:`kcl23_bn_run`) from its trained ``net`` and its
    :class:`~sgdnoise.nets.TrainResult` ``r``: test accuracy (eval mode), the next SGD step,
    λ(s) along the segment, the power check when asked.  The one measurement of the per-run
    and the batched worker."""
    from ..nets.metrics import evaluate, trainable
    from ._kcl23_worker import power_check

    if r.diverged:
        return {"status": "diverged", "reached": 0.0, "steps": float(r.steps)}
    test = evaluate(net, d.x_test, d.y_test, chunk_size=max(c["batch"], 256))  # eval mode
    xm, ym = d.x_train[: c["n_measure"]], d.y_train[: c["n_measure"]]
    step = next_iterate_step(net, d.x_train, d.y_train, c["lr"], c["batch"], c["seed"])
    s_values = segment_grid(c["segment_points"])
    lams, products = segment_lambdas(
        net, xm, ym, step, chunk_size=c["batch"], s_values=s_values, tol=c["hessian_tol"],
        max_iter=c["hessian_iter"], seed=c["seed"],
    )  # fmt: skip
    j_max = max(range(len(lams)), key=lams.__getitem__)
    reached = float(r.stop_reason == "train_accuracy")
    params = [p for _, p in trainable(net)]
    out = {
        "lambda_max": lams[0],
        "lambda_segment": lams[j_max],
        "lambda_next": lams[-1],
        "segment_argmax": s_values[j_max],
        **{f"lambda_s{j}": v for j, v in enumerate(lams)},
        "hessian_products": float(sum(products)),
        "step_norm": math.sqrt(sum(float((t**2).sum()) for t in step)),
        "weight_norm": math.sqrt(sum(float((p.detach() ** 2).sum()) for p in params)),
        "test_accuracy": float(test["accuracy"]),
        "train_accuracy": float(r.final["train_accuracy"]),
        "reached": reached,
        "capped": 1.0 - reached,
        "epochs": float(r.epochs),
        "steps": float(r.steps),
        "train_seconds": float(r.seconds),
    }
    if c["check_power"]:
        out["lambda_max_power"] = power_check(net, xm, ym, c)
    return out


#: the axes in which the runs of one ensemble task may differ (BN and B change the net or
#: the step's shape: they split tasks)
MEMBERS = ("lr", "seed")


def kcl23_bn_runs(configs: list[dict]) -> list[dict]:
    """Several :func:`kcl23_bn_run` configs that differ only in :data:`MEMBERS`, trained as
    one batched ensemble (:func:`sgdnoise.nets.ensemble.train_members`: member m as
    ``train(lr=η_m, seed=s_m, target_train_accuracy=target)``), each measured by
    :func:`_measure` when it stops (``on_stop``).  One result per config, what
    :func:`kcl23_bn_run` returns for it up to rounding: the VGG is convolutional, which the
    engine runs through ``torch.func.vmap`` (batched convolutions, BN over stacked running
    statistics) whose reductions round differently from a single run's channels-last
    convolutions; the difference starts at one rounding and grows at the dynamics' rate
    (tests/experiments/test_kcl23_bn.py bounds it on the smoke protocol).  On CPU each config
    is its per-run worker's call (:func:`_batchable`)."""
    cs = [_check(**cfg) for cfg in configs]
    shared = shared_settings(cs, MEMBERS)
    from ._grid import set_threads

    set_threads(shared["threads"])
    if not _batchable(shared):
        return [kcl23_bn_run(**cfg) for cfg in configs]
    return train_batched(cs, _data(shared))


def train_batched(cs: list[dict], d) -> list[dict]:
    """Members ``cs`` (checked configs sharing all but :data:`MEMBERS`) on data ``d`` as one
    ensemble, each measured when it stops; their results, in order."""
    from ..nets.ensemble import train_members

    nets = [_net(c, d) for c in cs]
    out: list[dict | None] = [None] * len(cs)

    def on_stop(i, module, r):
        out[i] = _measure(module, r, d, cs[i])

    c0 = cs[0]
    train_members(
        nets, d, lrs=[c["lr"] for c in cs], seeds=[c["seed"] for c in cs],
        batch_size=c0["batch"], epochs=c0["max_epochs"], target_train_accuracy=c0["target"],
        eval_test=False, on_stop=on_stop,
    )  # fmt: skip
    return out  # type: ignore[return-value]


def _batchable(c: dict) -> bool:
    """Whether these VGG members train as one ensemble: on CUDA, not on CPU.  On CPU the
    ``vmap`` engine was slower than one-by-one training on the cpu protocol's VGG (256
    CIFAR images at 16×16, B = 16 and 64; 3 epochs, 2026-12-02, load average 5–8 on 2
    cores): per member 0.35–0.68× the per-run trainer's speed with BN and 0.6–1.3× without,
    at 1–10 members; the engine's later CPU loop of single-run kernels gains nothing over
    one-by-one runs either, so on CPU each member is its per-run call (one per task)."""
    return _device(c["device"]) == "cuda"


def _device(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def kcl23_bn_size(config: dict) -> int:
    """Members per ensemble task (:func:`sgdnoise.nets.ensemble_size`); 1 where they
    train one by one (:func:`_batchable`: on CPU)."""
    from ..nets import make_model
    from ..nets.ensemble import ensemble_size
    from ._kcl23_worker import input_shape

    c = _check(**config)
    if not _batchable(c):
        return 1
    net = make_model(
        "vgg", input_shape=input_shape(c["data"], c["pool"]), num_outputs=10,
        width=c["width"], depth=c["depth"], batch_norm=c["batch_norm"], device="cpu",
    )  # fmt: skip
    return ensemble_size(net, batch_size=c["batch"], device=_device(c["device"]))


#: the BN protocol's runs as batched ensembles (seeds, and η within a B), recorded under
#: kcl23_bn_run's keys
ENSEMBLE = EnsemblePlan(
    per_run=FUNCTION,
    batched="sgdnoise.experiments._kcl23_bn_worker:kcl23_bn_runs",
    size="sgdnoise.experiments._kcl23_bn_worker:kcl23_bn_size",
    members=MEMBERS,
)


@dataclass(frozen=True)
class BnProtocol:
    """The data, the VGG and the budget of the BN protocol at one scale (the claim adds
    the grid axes: batch_norm × lr × batch × seed)."""

    data: str
    n_train: int
    n_test: int
    pool: int
    width: int
    depth: int
    max_epochs: int
    n_measure: int
    segment_points: int
    check_power: bool
    hessian_tol: float


#: smoke: 256 MNIST images pooled to 7×7, a 2-block VGG of width 1 (16, 32 channels), λmax
#: on 64 of them (a fast check of the machinery), the power iteration beside Lanczos on every
#: run (10–17 epochs to 99% at η = 0.1, B = 16).  cpu: 256 real CIFAR-10 images pooled to
#: 16×16, the same VGG, λmax on the first 128 of them at 0.5% relative Lanczos accuracy (a
#: 25% effect is what is judged).  Pilot (2026-12-02, load average 12–18 on 2 cores): 40–108
#: epochs to 99%, ≈ 5 s per Hessian-vector product on 256 BN points, 24–29 products per
#: run at 0.1% — the measurement cost more than the training, hence 128 points and 0.5%.
#: paper: full CIFAR-10 with a 4-block VGG (VGG-style as KCL23's VGG-11, its BN removable)
#: and λmax on 1000 fixed training points.
BN_PROTOCOL = {
    "smoke": BnProtocol("mnist", 256, 500, 4, 1, 2, 80, 64, 3, True, 1e-3),
    "cpu": BnProtocol("cifar10", 256, 1017, 2, 1, 2, 200, 128, 3, False, 5e-3),
    "paper": BnProtocol("cifar10", 50000, 10000, 1, 4, 4, 300, 1000, 5, False, 1e-3),
}


def fixed_for(scale: str, **overrides) -> dict:
    """The BN protocol's fixed settings at ``scale`` with a claim's overrides."""
    return {**asdict(BN_PROTOCOL[scale]), **overrides}


def run_grid(ctx, name: str, fixed: dict, product: dict, cells):
    """The claim's grid — the ``product`` axes crossed with the (lr, batch) ``cells`` (one
    zip group: a cell's η and B vary together) over ``fixed`` — through
    :func:`._grid.run_grid` into ``ctx.out_dir / study.sqlite`` (resumable; one worker
    process per core, at most one per run), the seeds of one (BN, η, B) as batched
    ensembles (:data:`ENSEMBLE`, recorded under the per-run keys).  A failed run raises
    (no verdict on a grid with unexplained holes); a run that missed the target is
    ``capped``.  Returns the frame."""
    from ..sweeps.executors import default_workers
    from ._grid import run_grid as grid

    axes = set(product) | {"lr", "batch"}
    fixed = {k: v for k, v in fixed.items() if k not in axes}
    fixed["data_dir"] = "" if ctx.data_dir is None else str(ctx.data_dir)
    if ctx.device != "cpu":  # cpu is the default: keeps the smoke/cpu run keys stable
        fixed["device"] = ctx.device
    zipped = {"lr": [float(lr) for lr, _ in cells], "batch": [int(b) for _, b in cells]}
    spec = {"name": name, "function": FUNCTION, "fixed": fixed, "product": product,
            "zip": [zipped]}  # fmt: skip
    n_runs = len(cells) * math.prod(len(v) for v in product.values())
    workers = max(1, min(default_workers(), n_runs))
    df, _ = grid(ctx, [spec], workers=workers, failed="raise", capped="capped", ensemble=[ENSEMBLE])
    return df
