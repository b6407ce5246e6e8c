"""torch.distributed set-up: the same training code on one CPU, one GPU or many processes.

Launched by ``torchrun`` (which sets RANK/WORLD_SIZE), a run joins a process group (gloo on
CPU, nccl on GPU); otherwise it is a world of one.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        if torch.cuda.is_available():
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    @classmethod
    def from_env(cls) -> "DistEnv":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        env = cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(env.local_rank)
            dist.init_process_group(backend)
        return env

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            t = t.clone()
            dist.all_reduce(t)
        return t

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


_local_batch_norm = F.batch_norm


def _global_batch_norm(input, running_mean, running_var, weight=None, bias=None,
                       training=False, momentum=0.1, eps=1e-5):
    """F.batch_norm with statistics over the whole global batch (all processes)."""
    if not training or momentum is None:
        return _local_batch_norm(input, running_mean, running_var, weight, bias,
                                 training, momentum, eps)
    from torch.distributed.nn.functional import all_reduce

    c = input.shape[1]
    dims = [0] + list(range(2, input.dim()))
    # Sums in float64: E[x^2] - E[x]^2 cancels badly in float32 for large activations.
    x64 = input.double()
    local = torch.cat([x64.sum(dims), (x64 * x64).sum(dims), x64.new_full((1,), input.numel() / c)])
    with warnings.catch_warnings():  # its successor in _functional_collectives has no autograd
        warnings.simplefilter("ignore", FutureWarning)
        total = all_reduce(local)  # differentiable: gradients flow through the global statistics
    n = total[-1]
    mean64 = total[:c] / n
    var = (total[c:2 * c] / n - mean64 * mean64).clamp_min(0).to(input.dtype)
    mean = mean64.to(input.dtype)
    if running_mean is not None:
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))
    shape = [1, c] + [1] * (input.dim() - 2)
    out = (input - mean.view(shape)) * torch.rsqrt(var.view(shape) + eps)
    if weight is not None:
        out = out * weight.view(shape) + bias.view(shape)
    return out


@contextlib.contextmanager
def global_batch_norm(env: DistEnv):
    """Batch norm over the global batch while training under DDP on any device.

    torch's SyncBatchNorm refuses CPU tensors, and timm's fused BatchNormAct layers call
    ``F.batch_norm`` directly, so the function itself is swapped for the duration. With it,
    N processes of batch B/N compute what one process of batch B computes.
    """
    if env.world <= 1:
        yield
        return
    F.batch_norm = _global_batch_norm
    try:
        yield
    finally:
        F.batch_norm = _local_batch_norm
