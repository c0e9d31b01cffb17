"""One training loop for every language-model estimator.

The loop takes batches that already carry ``labels`` (the loss is on the answer
tokens only: collation sets every prompt position to -100) and an optional
``evaluate`` callable that scores the model on a validation split carved from the
training data. It keeps the trainable parameters of the best epoch, stops early
when validation stops improving, and records ``history``.

Distributed: the same fit runs data-parallel when its script is launched on
several processes (several GPUs, or several machines), nothing changed in it::

    accelerate launch --multi_gpu --num_processes 2 fit.py           # 2 GPUs
    torchrun --standalone --nproc_per_node 2 fit.py                   # 2 CPU processes

Every process runs the whole script on the same data, so every process builds the
same batches; :func:`train` wraps the model in torch's ``DistributedDataParallel``
(gloo for a model on the CPU, NCCL on GPUs, through accelerate's ``PartialState``)
and each process trains on a contiguous slice of every batch. The global batch,
the optimiser steps and the learning-rate schedule are those of one process;
each process's loss is weighted by its share of the batch's targets, so the
averaged gradient is the whole batch's (for a loss averaged over examples or
tokens). Validation runs in full on every process
and the main process's score decides, so every process keeps the same epoch and
ends with the same weights. A single process runs exactly as before.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlmtsc.training._distributed import process_group, shard_batch, wrap_model

__all__ = [
    "TrainingConfig",
    "TrainingResult",
    "bf16_autocast",
    "captured_output",
    "epochs_for_steps",
    "epochs_within",
    "input_gradients",
    "seed_everything",
    "train",
]

SCHEDULES = ("cosine", "linear", "constant")
MIXED_PRECISION = ("auto", "bf16", "no")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) for reproducible runs."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - for libraries using the global RNG
    torch.manual_seed(seed)


@dataclass
class TrainingConfig:
    """Optimisation settings (the estimators expose them as parameters).

    Attributes
    ----------
    n_epochs : int
        Passes over the training examples.
    batch_size : int
        Examples per forward pass.
    gradient_accumulation_steps : int
        Forward passes per optimiser step (effective batch = product).
    learning_rate : float
        Peak learning rate of AdamW.
    weight_decay : float
        AdamW weight decay.
    warmup_ratio : float
        Fraction of the optimiser steps spent warming the rate up from 0.
    schedule : {"cosine", "linear", "constant"}
        Decay after warm-up (transformers' schedulers).
    max_grad_norm : float or None
        Gradient clipping norm.
    patience : int or None
        Stop after this many epochs without a better validation score.
    mixed_precision : {"auto", "bf16", "no"}
        bfloat16 autocast of the training steps (accelerate's vocabulary).
        ``"auto"``: where the hardware runs bf16 matmuls natively (CUDA with
        bf16; CPUs with AVX512-BF16 or AMX, ~2.7x fp32's matmul rate measured on
        a Zen 4 core). Weights and optimiser state stay float32; label
        scoring runs under the same autocast (:class:`LabelScoringModel`).
    """

    n_epochs: int = 2
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    schedule: str = "cosine"
    max_grad_norm: float | None = 1.0
    patience: int | None = None
    mixed_precision: str = "auto"

    def validate(self) -> None:
        for name in ("n_epochs", "batch_size", "gradient_accumulation_steps"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if not self.learning_rate > 0:
            raise ValueError(
                f"learning_rate must be positive, got {self.learning_rate!r}."
            )
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(
                f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}."
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {SCHEDULES}, got {self.schedule!r}."
            )
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                f"mixed_precision must be one of {MIXED_PRECISION}, got "
                f"{self.mixed_precision!r}."
            )
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be None or >= 1, got {self.patience!r}.")

    def steps_per_epoch(self, n_batches: int) -> int:
        """Optimiser steps in an epoch of ``n_batches`` batches (the last step
        takes the batches left over)."""
        return math.ceil(n_batches / self.gradient_accumulation_steps)


def epochs_for_steps(
    n_examples: int, config: TrainingConfig, min_steps: int, min_epochs: int = 1
) -> int:
    """Epochs that give at least ``min_steps`` optimiser steps, and at least
    ``min_epochs``, over ``n_examples`` examples per epoch in batches of
    ``config.batch_size`` (``gradient_accumulation_steps`` batches per step).

    Examples
    --------
    >>> from vlmtsc.training import TrainingConfig, epochs_for_steps
    >>> config = TrainingConfig(batch_size=4)
    >>> epochs_for_steps(22, config, min_steps=120, min_epochs=10)  # 6 steps each
    20
    >>> epochs_for_steps(400, config, min_steps=120, min_epochs=10)
    10
    """
    steps = max(1, config.steps_per_epoch(math.ceil(n_examples / config.batch_size)))
    return max(min_epochs, math.ceil(min_steps / steps))


def epochs_within(budget: float, per_epoch: float, max_epochs: int) -> int:
    """``max_epochs`` epochs, fewer when they would read more than ``budget``
    in all (timepoints, tokens...) at ``per_epoch`` an epoch; at least one.
    An epoch's cost grows with what it reads, so the budget bounds a fit's
    cost on large data, where fewer epochs still make as many steps.

    Examples
    --------
    >>> from vlmtsc.training import epochs_within
    >>> epochs_within(60 * 2048, per_epoch=216 * 60, max_epochs=60)
    10
    >>> epochs_within(60 * 2048, per_epoch=32 * 60, max_epochs=60)
    60
    """
    return int(min(max_epochs, max(1, math.ceil(budget / per_epoch))))


@dataclass
class TrainingResult:
    """What :func:`train` did.

    Attributes
    ----------
    history : list of dict
        Per epoch: ``epoch``, ``loss`` (mean training loss), ``validation_score``
        (if evaluated), ``learning_rate`` (at the epoch's end), ``seconds``,
        ``tokens`` (training tokens seen), ``flops`` (forward + backward FLOPs,
        from torch's count of the first step scaled by tokens, or by batches for
        models without an attention mask).
    best_epoch : int
        Epoch (1-based) whose parameters the model holds at the end: the best
        validation score, or the last epoch without validation; 0 for the
        starting parameters (``train(score_start=True)``).
    """

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0


def trainable_state(model) -> dict[str, Any]:
    """Copies of the parameters that train (LoRA adapters, trained heads)."""
    return {
        name: p.detach().clone()
        for name, p in model.named_parameters()
        if p.requires_grad
    }


def load_trainable_state(model, state: dict[str, Any]) -> None:
    """Copy a :func:`trainable_state` back into ``model`` in place."""
    import torch

    with torch.no_grad():
        named = dict(model.named_parameters())
        for name, value in state.items():
            named[name].copy_(value)


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``; others checked.

    For estimators that build their own torch modules (backbones resolve
    ``device`` through accelerate's device map instead).
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(
            f"device must be 'auto', 'cpu' or 'cuda' (optionally 'cuda:N'), got "
            f"{device!r}."
        )
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available; use device='cpu' or 'auto'."
        )
    return device


def bf16_is_fast(device_type: str) -> bool:
    """Whether this device multiplies bfloat16 matrices natively."""
    import torch

    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        cpu = torch.cpu
        return any(
            getattr(cpu, check, lambda: False)()
            for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        )
    return False


def _tokens(batch: dict[str, Any]) -> int:
    return int(batch["attention_mask"].sum()) if "attention_mask" in batch else 0


def _model_loss(model, batch: dict[str, Any]):
    return model(**batch).loss


def bf16_autocast(device_type: str, mixed_precision: str):
    """bfloat16 autocast on ``device_type`` when ``mixed_precision`` asks for it
    (``"bf16"``, or ``"auto"`` where :func:`bf16_is_fast`); else a no-op context.

    Examples
    --------
    >>> with bf16_autocast("cpu", "no"):
    ...     pass
    """
    import torch

    if mixed_precision == "bf16" or (
        mixed_precision == "auto" and bf16_is_fast(device_type)
    ):
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(
    model,
    batches: Callable[[np.random.Generator], Iterable[dict[str, Any]]],
    n_batches: int,
    config: TrainingConfig,
    *,
    evaluate: Callable[[Any], float] | None = None,
    random_state: int = 0,
    verbose: int = 1,
    description: str = "training",
    score_start: bool = False,
    loss: Callable[[Any, dict[str, Any]], Any] | None = None,
) -> TrainingResult:
    """Fine-tune ``model`` on ``batches``; keep the best epoch's parameters.

    Parameters
    ----------
    model : torch.nn.Module
        Returns an object with ``.loss`` when called with a batch carrying
        ``labels``. Only parameters with ``requires_grad`` are trained and
        checkpointed (the LoRA adapters and any trained head).
    batches : callable
        ``batches(rng)`` yields one epoch of collated batches (dicts of tensors),
        shuffled with ``rng``.
    n_batches : int
        Batches per epoch (for the schedule and the progress bar).
    config : TrainingConfig
    evaluate : callable, optional
        ``evaluate(model) -> score`` (higher is better) on validation data carved
        from the training set; called after every epoch.
    random_state : int, default=0
        Seeds torch, numpy and the shuffling.
    verbose : int, default=1
        ``0`` silences the progress bar.
    description : str, default="training"
        Progress-bar label.
    score_start : bool, default=False
        Also score the model as it starts (epoch 0, with ``evaluate``): when no
        epoch beats it, the starting parameters are kept (``best_epoch=0``).
        For models that start from a fitted solution (LP-FT: a head started
        from the linear probe).
    loss : callable, optional
        ``loss(model, batch) -> scalar tensor``, computed as ``model(**batch).loss``
        is by default; e.g. :func:`vlmtsc.training.shared_start_loss`, the same
        loss at less cost. Distributed training calls the wrapped model once per
        step, so it uses the default.

    Returns
    -------
    TrainingResult

    Notes
    -----
    **Distributed.** Under ``accelerate launch`` or ``torchrun`` with more than one
    process (e.g. ``accelerate launch --multi_gpu --num_processes 2 fit.py``, or
    ``torchrun --standalone --nproc_per_node 2 fit.py`` on CPUs) the model is
    wrapped in ``DistributedDataParallel`` and every process must call
    :func:`train` with the same model, batches and settings (as a launched
    script does):

    - *split*: each collated batch, by rows, in contiguous slices (tensors with
      ``k`` rows per example, such as Qwen2-VL's image patches, in blocks of
      ``k``; non-tensor entries such as ``"task": "masked"`` are passed as they
      are). A process left without rows (a batch smaller than the number of
      processes) runs one row with a zero weight. Each process's mean loss is
      weighted by its share of the batch's targets (labels other than -100, or
      examples), so the averaged gradient is that of the whole batch's mean loss.
    - *identical*: the batches, optimiser steps, schedule and gradient clipping
      of a single process; every process's weights after each step; the
      validation score (``evaluate`` gets the unwrapped model on every process;
      the main process's score is used), hence the best epoch, early stopping
      and the restored weights; ``history`` (each batch's loss: the processes'
      weighted parts summed).
    - *not identical*: dropout draws its masks per process; bf16 autocast
      rounds differently for other batch shapes (``mixed_precision="no"`` for
      comparisons); loss terms of the batch as a whole (contrastive losses,
      D-LoRA's load balancing) see only their process's rows; buffers a forward
      pass updates (EMA codebooks) are the main process's after every epoch.
      Otherwise only float32 sums run in another order: ~1e-6 from one process.
    - only the main process shows a progress bar. Anything a script writes
      (``save``) should be written by the main process only.

    Frozen parameters are not synchronised (every process loaded the same
    ones); a model loaded on another GPU than the process's own moves to it.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from tqdm.auto import tqdm

    from vlmtsc.backbones import import_peft

    import_peft(verbose)  # transformers' scheduler module imports it: quietly
    from transformers import get_scheduler

    config.validate()
    seed_everything(random_state)
    rng = np.random.default_rng(random_state)
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("The model has no trainable parameters.")
    device_type = parameters[0].device.type
    optimizer = torch.optim.AdamW(
        parameters, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    total_steps = config.steps_per_epoch(n_batches) * config.n_epochs
    scheduler = get_scheduler(
        config.schedule,
        optimizer,
        num_warmup_steps=round(config.warmup_ratio * total_steps),
        num_training_steps=total_steps,
    )
    group = process_group(device_type)
    network = None if group is None else wrap_model(model, group)
    if loss is None:
        loss = _model_loss
    result = TrainingResult()
    unit_flops = None  # per training token (per batch for models without tokens)
    best_score, best_state, stale = -math.inf, None, 0
    progress = tqdm(
        total=n_batches * config.n_epochs,
        desc=description,
        disable=not verbose or (group is not None and not group.is_main),
        leave=False,
    )
    if evaluate is not None and score_start:
        model.eval()
        with torch.no_grad():
            score = float(evaluate(model))
        if group is not None:
            score = group.broadcast_float(score)
        result.history.append(
            {
                "epoch": 0,
                "loss": float("nan"),
                "learning_rate": 0.0,
                "seconds": 0.0,
                "tokens": 0,
                "flops": 0.0,
                "validation_score": score,
            }
        )
        best_score, best_state = score, trainable_state(model)
    for epoch in range(1, config.n_epochs + 1):
        model.train()
        losses, tokens, units, started = [], 0, 0, time.perf_counter()
        shares = []  # per batch: this process's part of the batch's mean loss
        for index, batch in enumerate(batches(rng)):
            batch = {
                k: v.to(parameters[0].device) if hasattr(v, "to") else v
                for k, v in batch.items()
            }
            batch_tokens = _tokens(batch)
            last = index + 1 == n_batches
            ends_step = (index + 1) % config.gradient_accumulation_steps == 0 or last
            weight = 1.0
            sync = contextlib.nullcontext()
            if group is not None:
                batch, weight = shard_batch(batch, group.rank, group.size)
                if not ends_step:  # gradients are exchanged once per optimiser step
                    sync = network.no_sync()
            # The first step's FLOPs (forward + backward, counted by torch) give
            # the throughput figure of merit: FLOP/s against the machine's peak.
            counter = FlopCounterMode(display=False) if unit_flops is None else None
            with sync, counter or contextlib.nullcontext():
                with bf16_autocast(device_type, config.mixed_precision):
                    value = loss(model, batch) if network is None else network(**batch)
                # weight is exactly 1 in a single process: the same numbers.
                (value * weight / config.gradient_accumulation_steps).backward()
            if counter is not None:
                counted = batch_tokens if group is None else _tokens(batch)
                unit_flops = counter.get_total_flops() / max(counted, 1)
                if group is not None:
                    # Counted on this process's rows: the main process's figure
                    # is kept everywhere so that the histories agree.
                    unit_flops = group.broadcast_float(unit_flops)
            losses.append(value.item())
            shares.append(value.item() * weight / (group.size if group else 1))
            tokens += batch_tokens
            units += max(batch_tokens, 1)
            if ends_step:
                if config.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            progress.update()
            progress.set_postfix(epoch=epoch, loss=f"{np.mean(losses[-10:]):.3f}")
        if group is not None:
            group.sync_buffers(model)
            if shares:  # the whole batches' losses: the weighted parts summed
                losses = group.all_sum(shares)
        entry = {
            "epoch": epoch,
            "loss": float(np.mean(losses)) if losses else float("nan"),
            "learning_rate": scheduler.get_last_lr()[0],
            "seconds": time.perf_counter() - started,
            "tokens": tokens,
            "flops": unit_flops * units if unit_flops is not None else 0.0,
        }
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                score = float(evaluate(model))
            if group is not None:
                # Every process scores the full validation set with the same
                # weights; the main process's score is taken so that every
                # process keeps the same epoch and stops at the same time.
                score = group.broadcast_float(score)
            entry["validation_score"] = score
        result.history.append(entry)
        score = entry.get("validation_score", epoch)  # without validation: the last
        if score > best_score:
            best_score, best_state, stale = score, trainable_state(model), 0
            result.best_epoch = epoch
        else:
            stale += 1
            if config.patience is not None and stale >= config.patience:
                break
    progress.close()
    del network  # drops DDP's gradient hooks before the model is used again
    if best_state is not None and result.best_epoch != result.history[-1]["epoch"]:
        load_trainable_state(model, best_state)
    model.eval()
    return result


@contextlib.contextmanager
def input_gradients(model):
    """Gradients towards a model's inputs only, for explanations.

    Inside the block ``model`` is in eval mode (no dropout, BatchNorm's running
    statistics), every parameter is frozen and autograd is on: take gradients
    with ``torch.autograd.grad(output, inputs)`` with respect to input tensors
    (or hooked activations, :func:`captured_output`); no parameter gets a
    ``.grad`` and no graph is built for the weights. The training mode and
    every parameter's ``requires_grad`` are restored on exit.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 1)
    >>> x = torch.ones(1, 3, requires_grad=True)
    >>> with input_gradients(net):
    ...     (grad,) = torch.autograd.grad(net(x).sum(), x)
    >>> torch.equal(grad[0], net.weight[0].detach()), net.weight.requires_grad
    (True, True)
    """
    import torch

    flags = [(p, p.requires_grad) for p in model.parameters()]
    training = model.training
    model.eval()
    try:
        for parameter, _ in flags:
            parameter.requires_grad_(False)
        with torch.enable_grad():
            yield model
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
        model.train(training)


@contextlib.contextmanager
def captured_output(module):
    """Every output of ``module`` inside the block, in a list, each made a leaf
    tensor that requires grad and passed on in its place: what
    ``torch.autograd.grad`` differentiates for embedding attributions (within
    :func:`input_gradients`)."""
    outputs = []

    def hook(_module, _args, output):
        leaf = output.detach().requires_grad_(True)
        outputs.append(leaf)
        return leaf

    handle = module.register_forward_hook(hook)
    try:
        yield outputs
    finally:
        handle.remove()
