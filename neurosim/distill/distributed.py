"""Data-parallel helpers for :class:`neurosim.distill.Trainer` (``torch.distributed``).

Launch with ``torchrun --nproc_per_node N ...``: each process reads ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK`` from the environment; :func:`init_from_env` joins the process group with
the ``gloo`` backend on CPU or ``nccl`` on GPU.

Sharding (equivalent to ``DistributedSampler`` with a shared shuffle): every process draws the
same permutation of the training set for epoch ``e`` from ``(seed, e)``, cuts it into global
batches of ``batch_size`` samples, and takes a contiguous slice of each global batch
(:func:`shard_bounds`). Per-process losses are scaled by ``n_local * world / n_global`` so that
DDP's gradient average equals the gradient of the loss averaged over the global batch; with
the same global batch a run on N processes therefore matches the single-process run up to
floating-point summation order. (BatchNorm computes statistics per process; use SyncBatchNorm
or a model without BN when bit-level agreement matters.)
"""
from __future__ import annotations


import torch

from neurosim import config

__all__ = ["world_info", "is_main", "init_from_env", "shard_bounds", "epoch_permutation", "all_reduce_sum",
           "barrier", "default_device"]


def _dist_ready() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def world_info() -> tuple[int, int]:
    """``(rank, world_size)``: ``(0, 1)`` when no process group is initialised."""
    if _dist_ready():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True on rank 0 (and in single-process runs)."""
    return world_info()[0] == 0


def init_from_env(backend: str | None = None, device=None) -> bool:
    """Join the process group described by torchrun's environment variables.

    Does nothing (returns False) when ``WORLD_SIZE`` is unset or 1, or when a group already
    exists. ``backend`` defaults to ``nccl`` for a CUDA ``device`` and ``gloo`` for any other;
    without ``device``, to ``nccl`` when CUDA is available, else ``gloo``.
    """
    if _dist_ready():
        return True
    world = config.world_size()
    if world <= 1:
        return False
    if backend is None:
        cuda = torch.cuda.is_available() if device is None else torch.device(device).type == "cuda"
        backend = "nccl" if cuda else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(config.local_rank())
    torch.distributed.init_process_group(backend=backend)
    return True


def default_device() -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is available, else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", config.local_rank())
    return torch.device("cpu")


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Contiguous slice ``[lo, hi)`` of a global batch of ``n`` samples held by ``rank``.

    The first ``n % world`` ranks hold one sample more; every rank holds at least one sample
    when ``n >= world``.
    """
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank must lie in [0, world) with world >= 1, got rank={rank}, world={world}")
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The data order of epoch ``epoch``: a permutation of ``range(n)`` determined by ``(seed, epoch)``."""
    g = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(epoch) * 7919 + 0x5EED) % (2**63 - 1))
    return torch.randperm(n, generator=g)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all processes (in place; identity without a process group).

    With the NCCL backend a CPU tensor travels through the current CUDA device (NCCL reduces
    GPU memory only) and the sum is copied back into ``t``.
    """
    if _dist_ready():
        if t.device.type != "cuda" and torch.distributed.get_backend() == "nccl":
            on_gpu = t.to(torch.device("cuda", torch.cuda.current_device()))
            torch.distributed.all_reduce(on_gpu, op=torch.distributed.ReduceOp.SUM)
            t.copy_(on_gpu)
        else:
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
    return t


def barrier() -> None:
    """Wait for all processes (no-op without a process group)."""
    if _dist_ready():
        torch.distributed.barrier()
