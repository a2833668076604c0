"""Which training points each SGD step sees (DESIGN.md §3).

* ``"epoch"``: a fresh random permutation per epoch, consumed in consecutive batches
  (without replacement; the last batch of an epoch may be short);
* ``"replacement"``: B indices drawn i.i.d. uniformly (a point may repeat in a batch);
* ``"fresh"``: a fresh random batch of B distinct points at every step, independent across
  steps — SGW23's protocol (no epochs).

All draws come from one seeded CPU generator, so a run's batches do not depend on the device.
"""

from __future__ import annotations

import torch

from ..validation import choice

SAMPLINGS = ("epoch", "replacement", "fresh")


class BatchSampler:
    """Seeded source of index batches over ``n`` training points."""

    def __init__(self, n: int, sampling: str, seed: int):
        self.n = n
        self.sampling = choice("sampling", sampling, SAMPLINGS)
        self.generator = torch.Generator().manual_seed(seed)
        self._perm: torch.Tensor | None = None
        self._cursor = 0
        self._epoch: int | None = None

    def next(self, batch_size: int, epoch: int) -> torch.Tensor:
        """Indices (CPU int64) of the batch for a step of ``epoch`` with ``batch_size`` points."""
        b = min(batch_size, self.n)
        if self.sampling == "replacement":
            return torch.randint(self.n, (b,), generator=self.generator)
        if self.sampling == "fresh":
            return torch.randperm(self.n, generator=self.generator)[:b]
        if self._perm is None or epoch != self._epoch or self._cursor >= self.n:
            self._perm = torch.randperm(self.n, generator=self.generator)
            self._cursor, self._epoch = 0, epoch
        idx = self._perm[self._cursor : self._cursor + b]
        self._cursor += len(idx)
        return idx
