"""Data parallelism for :func:`vlmtsc.training.train` under ``accelerate launch``.

Every process runs the same script on the same data, so every process builds the
same collated batches in the same order. Each one keeps a contiguous slice of
every batch (:func:`shard_batch`), the model is wrapped in torch's
``DistributedDataParallel`` (gradients averaged across processes during the
backward pass), and each process scales its loss by its share of the batch's
targets so that the averaged gradient is the gradient of the whole batch's loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ProcessGroup",
    "process_group",
    "shard_batch",
    "shard_bounds",
    "wrap_model",
]

IGNORE_INDEX = -100
# Launchers announce the number of processes through one of these (torchrun and
# accelerate: WORLD_SIZE; MPI implementations: the others).
WORLD_SIZE_VARIABLES = (
    "WORLD_SIZE",
    "PMI_SIZE",
    "OMPI_COMM_WORLD_SIZE",
    "MV2_COMM_WORLD_SIZE",
)


@dataclass(frozen=True)
class ProcessGroup:
    """Where this process stands among the processes of a launched run.

    Attributes
    ----------
    rank : int
        Index of this process (0 is the main process).
    size : int
        Number of processes.
    device : torch.device
        The device accelerate assigned to this process (its own GPU, or the CPU).
    """

    rank: int
    size: int
    device: Any

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over processes (the same result on every process)."""
        import torch
        import torch.distributed as dist

        # On the process's device: NCCL reduces GPU tensors, gloo CPU tensors.
        reduced = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
        return reduced.cpu().tolist()

    def broadcast_float(self, value: float) -> float:
        """The main process's ``value``, on every process."""
        import torch
        import torch.distributed as dist

        shared = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.broadcast(shared, src=0)
        return float(shared[0])

    def sync_buffers(self, model) -> None:
        """Give every process the main process's buffers.

        Buffers that a training forward pass updates from its own rows (EMA
        codebooks, normalisation statistics) drift apart between processes;
        DDP copies the main process's at the start of each forward pass, and
        this does it once more before the model is validated or returned.
        """
        import torch
        import torch.distributed as dist

        for buffer in model.buffers():
            if buffer.dtype != torch.bool:  # masks: constant
                dist.broadcast(buffer, src=0)


def _announced_size() -> int:
    import os

    for name in WORLD_SIZE_VARIABLES:
        value = os.environ.get(name)
        if value:
            return int(value)
    return 1


def process_group(device_type: str) -> ProcessGroup | None:
    """The process group of a launched multi-process run, else ``None``.

    Parameters
    ----------
    device_type : str
        Where the model lives (``"cpu"`` or ``"cuda"``): a model on the CPU
        communicates through gloo, one on GPUs through NCCL.

    Returns
    -------
    ProcessGroup or None
        ``None`` in a plain single-process run (nothing is initialised then).
    """
    import torch.distributed as dist

    initialised = dist.is_available() and dist.is_initialized()
    if _announced_size() <= 1 and not (initialised and dist.get_world_size() > 1):
        return None
    from accelerate import PartialState

    # accelerate's shared state initialises the process group once (gloo for a
    # CPU model, NCCL on GPUs) and sets each process's own CUDA device.
    state = PartialState(cpu=device_type == "cpu")
    if state.num_processes <= 1:
        return None
    return ProcessGroup(state.process_index, state.num_processes, state.device)


def shard_bounds(n_examples: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of a batch of ``n_examples`` that ``rank`` keeps.

    Contiguous, in rank order, sizes differing by at most one: together the
    ``size`` ranks cover every example exactly once (a rank may get none when
    the batch is smaller than the number of processes).
    """
    return rank * n_examples // size, (rank + 1) * n_examples // size


def _batch_size(batch: dict[str, Any]) -> int:
    for key in ("labels", "input_ids"):
        value = batch.get(key)
        if _is_rows(value):
            return value.shape[0]
    for value in batch.values():
        if _is_rows(value):
            return value.shape[0]
    raise ValueError("A batch to split across processes holds no batched tensor.")


def _is_rows(value) -> bool:
    import torch

    return isinstance(value, torch.Tensor) and value.ndim >= 1


def _targets_per_example(batch: dict[str, Any], n_examples: int):
    """How many targets the loss averages over in each example.

    Its labels other than -100 (answer tokens, masked tokens, one class label);
    without integer labels, one per example.
    """
    import torch

    labels = batch.get("labels")
    if (
        _is_rows(labels)
        and labels.shape[0] == n_examples
        and not labels.is_floating_point()
    ):
        counts = (labels != IGNORE_INDEX).reshape(n_examples, -1).sum(dim=1)
        if int(counts.sum()) > 0:
            return counts.cpu().to(torch.float64)
    return torch.ones(n_examples, dtype=torch.float64)


def shard_batch(
    batch: dict[str, Any], rank: int, size: int
) -> tuple[dict[str, Any], float]:
    """This rank's slice of a collated batch, and the weight of its loss.

    Parameters
    ----------
    batch : dict
        A collated batch. Tensors whose first dimension is the batch size ``n``
        (that of ``labels``, else ``input_ids``, else the first batched tensor)
        are split by rows; tensors whose first dimension is a multiple ``k * n``
        (images flattened to patches, ``k`` per example, as Qwen2-VL's processor
        makes them) are split in blocks of ``k``. Scalars and non-tensor entries
        (e.g. ``"task": "masked"``) are passed through unchanged.
    rank, size : int
        This process's index and the number of processes.

    Returns
    -------
    shard : dict
        The rank's rows. A rank left without rows (a batch smaller than the
        number of processes) gets the batch's first row as a stand-in, so that
        it still joins the gradient exchange, with weight 0.
    weight : float
        ``size * (targets in the shard) / (targets in the batch)``: scaling each
        rank's mean loss by it makes the gradients that data parallelism
        averages add up to the gradient of the whole batch's mean loss.
    """
    n_examples = _batch_size(batch)
    start, stop = shard_bounds(n_examples, rank, size)
    targets = _targets_per_example(batch, n_examples)
    weight = float(size * targets[start:stop].sum() / targets.sum())
    if start == stop:
        start, stop, weight = 0, 1, 0.0
    shard = {}
    for key, value in batch.items():
        if not _is_rows(value):
            shard[key] = value
            continue
        rows = value.shape[0]
        if rows % n_examples:
            raise ValueError(
                f"Cannot split batch entry {key!r} across processes: its first "
                f"dimension ({rows}) is not a multiple of the batch size "
                f"({n_examples})."
            )
        per_example = rows // n_examples
        shard[key] = value[start * per_example : stop * per_example]
    return shard, weight


def wrap_model(model, group: ProcessGroup):
    """``model``'s loss in torch's ``DistributedDataParallel``.

    Calling the wrapper with a batch returns ``model(**batch).loss``; gradients
    are averaged over the processes during its backward pass. It shares the
    model's parameters, so training it trains ``model``. Only trainable
    parameters are synchronised (frozen ones are the same in every process);
    parameters a batch does not use (another task's head) are allowed.
    """
    from torch.nn.parallel import DistributedDataParallel

    devices = {p.device for p in model.parameters()}
    if len(devices) > 1:
        raise ValueError(
            "Data-parallel training needs a whole copy of the model in every "
            f"process, but this one is spread over {sorted(map(str, devices))} "
            "(device='auto' with several GPUs). Load it with device='cuda'."
        )
    (device,) = devices
    if device.type == "cuda" and device != group.device:
        # Each process trains on its own GPU; a model loaded on another one
        # (device='cuda' before accelerate chose the process's GPU) moves.
        try:
            model.to(group.device)
        except (ValueError, RuntimeError) as error:
            raise ValueError(
                f"Process {group.rank} must train on {group.device}, but the model "
                f"was loaded on {device} and cannot move (quantized weights). "
                "Create accelerate.PartialState() at the start of the script, "
                "before fitting, so that device='cuda' loads onto each process's "
                "own GPU."
            ) from error
    wrapped = _loss_of(model)
    # Frozen weights are identical in every process (loaded the same way):
    # broadcasting them at the start would only copy the whole backbone.
    frozen = [name for name, p in wrapped.named_parameters() if not p.requires_grad]
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(wrapped, frozen)
    return DistributedDataParallel(
        wrapped,
        device_ids=[group.device] if group.device.type == "cuda" else None,
        find_unused_parameters=True,
    )


def _loss_of(model):
    """A module whose output is ``model(**batch).loss``.

    DDP searches the output for tensors to learn which parameters the step
    used; models may return types it does not search (a ``SimpleNamespace``),
    so the wrapper hands it the loss itself.
    """
    import torch

    class Loss(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, **batch):
            return self.model(**batch).loss

    return Loss(model)
