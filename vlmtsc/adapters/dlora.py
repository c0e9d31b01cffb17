"""Dynamic LoRA (D-LoRA, Time-LlaMA): a router per block switches LoRA modules on.

Every transformer block gets a LoRA module on each of its linear projections
(Llama: q, k, v, o, gate, up, down; GPT-2: ``c_attn``, ``attn.c_proj``, ``c_fc``,
``mlp.c_proj``). Before a block runs, its router reads the block's input (the
previous block's output, or the embeddings for the first block) pooled over the
sequence and, per example, switches on only the ``top_n`` most probable modules;
the others add nothing for that example. A Switch-Transformer load-balancing loss
keeps the routers from always choosing the same modules.

The pieces follow a peft tuner's layout: :class:`DLoRAConfig` (the settings),
:class:`DLoRALinear` (the wrapped layer), :class:`DLoRARouter` (one per block) and
:class:`DLoRAModel` (injection, routing hooks, saving), with :func:`add_dlora` as
the entry point.

Routing is per sequence, so two rules keep training and inference consistent:

* Supervised tokens are not read. When the call carries ``labels``, the router
  pools only over tokens whose label is -100 (the prompt, in vlmtsc's training
  examples), so the answer a model is trained on cannot steer its own routing.
  An example where every token is supervised (plain language modelling) pools
  over all its attended tokens.
* A call that continues a key/value cache (label scoring, ``generate``'s decoding
  steps) reuses the routing of the call that filled the cache, each example's
  gates repeated when the batch was expanded (as ``score_labels`` does once per
  label). Scoring a label after a cached prompt thus sees the same modules as a
  training forward over prompt + label.

References
----------
.. [1] "Time-LlaMA: Adapting Large Language Models for Time Series Modeling via
   Dynamic Low-rank Adaptation" (2025): D-LoRA and the load-balancing loss.
.. [2] Fedus, W., Zoph, B. and Shazeer, N. "Switch Transformers: Scaling to
   Trillion Parameter Models with Simple and Efficient Sparsity." JMLR 23 (2022).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vlmtsc.backbones import CACHE_FIELDS

__all__ = ["DLoRAConfig", "DLoRALinear", "DLoRAModel", "DLoRARouter", "add_dlora"]

CONFIG_NAME = "dlora_config.json"
WEIGHTS_NAME = "dlora_model.safetensors"
POOLINGS = ("mean", "last")
_IGNORE_INDEX = -100  # the label of unsupervised tokens (transformers, vlmtsc)


@dataclass
class DLoRAConfig:
    """Settings of D-LoRA.

    Parameters
    ----------
    r : int, default=8
        Rank of every LoRA module.
    alpha : float, default=16
        LoRA scaling numerator: a module adds ``alpha / r * B(A(x))``.
    dropout : float, default=0.05
        Dropout on the LoRA branch's input.
    target_modules : list of str or str, default=None
        The projections that get a LoRA module, with peft's matching: a list of
        names matches module names equal to or ending in ``"." + name``; a string
        is a regular expression the whole module name must match. ``None``: the
        family's LoRA targets (:attr:`vlmtsc.backbones.Family.lora_targets`),
        found from the model's ``config.model_type``.
    top_n : int, default=2
        Modules switched on per block and example (Time-LlaMA uses 4 of 7).
    balance_weight : float, default=0.01
        Weight of the load-balancing loss added to the training loss.
    router_temperature : float, default=1.0
        The routers' softmax temperature.
    pooling : {"mean", "last"}, default="mean"
        How a router summarises its block's input: the mean over the routed
        tokens, or the last routed token (the Time-LlaMA paper's choice).
    """

    r: int = 8
    alpha: float = 16
    dropout: float = 0.05
    target_modules: list[str] | str | None = None
    top_n: int = 2
    balance_weight: float = 0.01
    router_temperature: float = 1.0
    pooling: str = "mean"

    def __post_init__(self):
        for name in ("r", "top_n"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if not self.alpha > 0:
            raise ValueError(f"alpha must be positive, got {self.alpha!r}.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        if not self.balance_weight >= 0:
            raise ValueError(
                f"balance_weight must be >= 0, got {self.balance_weight!r}."
            )
        if not self.router_temperature > 0:
            raise ValueError(
                f"router_temperature must be positive, got {self.router_temperature!r}."
            )
        if self.pooling not in POOLINGS:
            raise ValueError(
                f"pooling must be one of {POOLINGS}, got {self.pooling!r}."
            )
        if isinstance(self.target_modules, tuple):
            self.target_modules = list(self.target_modules)  # JSON round trip


def _conv1d():
    from transformers.pytorch_utils import Conv1D

    return Conv1D


class DLoRALinear(nn.Module):
    """A frozen linear layer plus a LoRA branch that a per-example gate switches.

    ``output = base(x) + gate[:, None, None] * alpha / r * B(A(dropout(x)))``.
    ``B`` starts at zero, so the wrapped layer starts as the base layer.

    Parameters
    ----------
    base_layer : torch.nn.Linear or transformers.pytorch_utils.Conv1D
        The layer to adapt (GPT-2's ``Conv1D`` stores its weight as (in, out)).
        Its parameters are frozen.
    r : int
    alpha : float
    dropout : float

    Attributes
    ----------
    gate : Tensor of shape (batch,) or None
        Set by the block's router before the block runs: 1 where the module is
        on for that example, 0 where it is off. ``None`` (never routed) applies
        the LoRA branch to every example, like plain LoRA.
    """

    def __init__(self, base_layer: nn.Module, r: int, alpha: float, dropout: float):
        super().__init__()
        if isinstance(base_layer, nn.Linear):
            in_features, out_features = base_layer.in_features, base_layer.out_features
        elif isinstance(base_layer, _conv1d()):
            in_features, out_features = base_layer.weight.shape
        else:
            raise TypeError(
                "D-LoRA adapts torch.nn.Linear and transformers' Conv1D layers, got "
                f"{type(base_layer).__name__}."
            )
        self.base_layer = base_layer.requires_grad_(False)
        self.lora_dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        device = base_layer.weight.device
        self.lora_A = nn.Linear(in_features, r, bias=False, device=device)
        self.lora_B = nn.Linear(r, out_features, bias=False, device=device)
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / r
        self.gate = None

    def forward(self, x):
        out = self.base_layer(x)
        gate = self.gate
        if gate is not None and not gate.any():
            return out  # off for the whole batch: skip the branch, no gradient
        lora = self.lora_A.weight
        update = self.lora_B(self.lora_A(self.lora_dropout(x.to(lora.dtype))))
        update = update * self.scaling
        if gate is not None:
            update = update * gate.to(update.dtype).view(-1, *[1] * (x.dim() - 1))
        return out + update.to(out.dtype)


class DLoRARouter(nn.Module):
    """Chooses, per example, the ``top_n`` LoRA modules of one block.

    ``probs = softmax(Linear(rms_normalise(pooled)) / temperature)``; the
    ``top_n`` most probable modules get gate 1, the others 0. The RMS
    normalisation (no parameters) keeps the logits in a learnable range: the
    residual stream's norm grows from about 1 at the embeddings to thousands in
    a real model's deeper blocks (SmolLM2-135M: 1.7 at the embeddings, 800 to
    12,500 at block 20), where a plain linear router's softmax saturates and
    stops learning.

    The router learns through a straight-through estimator: the gates are
    ``mask + (p - p.detach())`` with ``p = probs * mask``, exactly 0/1 in the
    forward pass, while the gradient of each chosen module's gate flows to its
    probability (as if the module's output were weighted by it). Unchosen
    modules give the router no gradient except through the balancing loss.

    Parameters
    ----------
    hidden_size : int
        Width of the block's input.
    n_modules : int
        LoRA modules in the block.
    top_n : int
        Modules switched on per example.
    temperature : float, default=1.0

    Attributes
    ----------
    last_probs, last_gates : Tensor of shape (batch, n_modules)
    last_indices : LongTensor of shape (batch, top_n)
        The chosen modules, ascending.
    last_balance_loss : Tensor (scalar)
        ``n_modules * sum_i f_i * P_i``, with ``f_i`` the share of the batch's
        ``batch * top_n`` module choices that went to module ``i`` and ``P_i``
        its mean probability; 1 when the choices and probabilities are uniform.
        Only ``P_i`` carries gradient (the Switch Transformer's loss).
    """

    reads_whole_sequence = True
    """Routing pools the whole prompt: a cache of its start alone would differ
    (:func:`vlmtsc.training.shared_start` then shares nothing)."""

    def __init__(
        self, hidden_size: int, n_modules: int, top_n: int, temperature: float = 1.0
    ):
        super().__init__()
        self.linear = nn.Linear(hidden_size, n_modules)
        self.n_modules, self.top_n, self.temperature = n_modules, top_n, temperature
        self.last_probs = self.last_gates = self.last_indices = None
        self.last_balance_loss = None

    def forward(self, pooled):
        """Gates of shape (batch, n_modules) for ``pooled`` of shape (batch, hidden)."""
        pooled = pooled.float()
        pooled = pooled * torch.rsqrt(pooled.pow(2).mean(-1, keepdim=True) + 1e-6)
        logits = self.linear(pooled.to(self.linear.weight.dtype)).float()
        probs = torch.softmax(logits / self.temperature, dim=-1)
        indices = probs.topk(self.top_n, dim=-1).indices
        mask = torch.zeros_like(probs).scatter_(-1, indices, 1.0)
        chosen = probs * mask
        gates = mask + (chosen - chosen.detach())  # exactly 0/1: x - x == 0
        share = mask.mean(dim=0) / self.top_n
        self.last_balance_loss = self.n_modules * (share * probs.mean(dim=0)).sum()
        self.last_probs, self.last_gates = probs, gates
        self.last_indices = indices.sort(dim=-1).values
        return gates


def _matches(name: str, targets) -> bool:
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def _block_of(model: nn.Module, name: str) -> str:
    """The block holding module ``name``: the child of its outermost ModuleList."""
    parts = name.split(".")
    for i in range(1, len(parts)):
        if isinstance(model.get_submodule(".".join(parts[:i])), nn.ModuleList):
            return ".".join(parts[: i + 1])
    raise ValueError(
        f"D-LoRA routes per transformer block, but {name!r} is not inside a list "
        "of blocks (a torch.nn.ModuleList); choose target_modules inside the "
        "model's layers."
    )


def _pool(hidden, mask, pooling: str):
    """(batch, length, hidden) -> (batch, hidden) over the ``mask``ed tokens."""
    if pooling == "last":
        last = mask.long().cumsum(dim=1).argmax(dim=1)  # the last True position
        return hidden[torch.arange(len(hidden), device=hidden.device), last]
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)


class DLoRAModel(nn.Module):
    """A Hugging Face model with D-LoRA modules and routers in every block.

    Injects :class:`DLoRALinear` layers into ``model`` in place, adds one
    :class:`DLoRARouter` per block and freezes everything else. Forward
    pre-hooks do the routing: one on ``model`` reads ``attention_mask``,
    ``labels`` and the key/value cache of each call; one on each block pools the
    block's input and sets the gates of the block's modules. Calling ``model``
    itself (or its ``generate``) therefore routes too; calling this wrapper
    also adds the balancing loss to ``.loss``.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A causal LM (Llama and GPT-2 families, and those that load like them).
    config : DLoRAConfig, optional
        Defaults to ``DLoRAConfig()``.

    Attributes
    ----------
    model : transformers.PreTrainedModel
        The adapted model; other attributes (``config``, ``generate``, ...) are
        looked up on it.
    dlora_config : DLoRAConfig
    routers : torch.nn.ModuleList of DLoRARouter
        One per block, in forward order.
    block_names : list of str
        Module names of the blocks, e.g. ``"model.layers.0"``.
    module_names : list of list of str
        Per block, its adapted modules relative to the block (router outputs
        are in this order), e.g. ``"self_attn.q_proj"``.
    dlora_layers : list of list of DLoRALinear
        Per block, its adapted layers, in the same order.

    Notes
    -----
    The training loop calls ``model(**batch).loss``: with ``labels`` in the
    batch, this wrapper returns the model's output with ``loss`` replaced by
    ``loss + balance_loss()``.

    Examples
    --------
    >>> from vlmtsc.backbones import load_backbone
    >>> from vlmtsc.adapters.dlora import DLoRAConfig, add_dlora
    >>> backbone = load_backbone("tiny-llama", verbose=0)
    >>> model = add_dlora(backbone.model, DLoRAConfig(r=4, top_n=2))
    >>> model.block_names, len(model.module_names[0])  # 7 modules per block
    (['model.layers.0', 'model.layers.1'], 7)
    >>> texts = ["a rising series", "flat"]
    >>> batch = backbone.tokenizer(texts, return_tensors="pt", padding=True)
    >>> out = model(**batch, labels=batch["input_ids"])  # loss includes balancing
    >>> model.routing().shape  # (blocks, examples, top_n): chosen module indices
    torch.Size([2, 2, 2])
    >>> bool(model.balance_loss() > 0)
    True
    """

    def __init__(self, model: nn.Module, config: DLoRAConfig | None = None):
        super().__init__()
        config = DLoRAConfig() if config is None else config
        self.model = model
        self.dlora_config = config
        blocks = self._find_blocks(model, config)
        model.requires_grad_(False)
        for names in blocks.values():
            for name in names:
                parent, _, attr = name.rpartition(".")
                layer = DLoRALinear(
                    model.get_submodule(name), config.r, config.alpha, config.dropout
                )
                setattr(model.get_submodule(parent), attr, layer)
        hidden_size = model.config.get_text_config().hidden_size
        device = next(model.parameters()).device
        self.block_names = list(blocks)
        self.module_names = [
            [name.removeprefix(block + ".") for name in names]
            for block, names in blocks.items()
        ]
        self.dlora_layers = [
            [model.get_submodule(name) for name in names] for names in blocks.values()
        ]
        self.routers = nn.ModuleList(
            DLoRARouter(
                hidden_size, len(names), config.top_n, config.router_temperature
            ).to(device)
            for names in blocks.values()
        )
        self._signature = inspect.signature(model.forward)
        self._call: dict = {}
        self._hooks = [
            model.register_forward_pre_hook(self._read_call, with_kwargs=True)
        ]
        self._hooks += [
            model.get_submodule(block).register_forward_pre_hook(
                functools.partial(self._route, i), with_kwargs=True
            )
            for i, block in enumerate(self.block_names)
        ]

    @staticmethod
    def _find_blocks(model, config) -> dict[str, list[str]]:
        """Block name -> names of its target modules; checks the config fits."""
        targets = config.target_modules
        if targets is None:
            from vlmtsc.backbones import family_of

            targets = family_of(model.config).lora_targets
        names = [name for name, _ in model.named_modules() if _matches(name, targets)]
        if not isinstance(targets, str):
            unmatched = [t for t in targets if not any(_matches(n, [t]) for n in names)]
        else:
            unmatched = [] if names else [targets]
        if unmatched:
            linear = sorted(
                {
                    name.rpartition(".")[2]
                    for name, module in model.named_modules()
                    if isinstance(module, (nn.Linear, _conv1d()))
                }
            )
            raise ValueError(
                f"target_modules {unmatched} match no module of this "
                f"{type(model).__name__}; its linear layers are named {linear}."
            )
        blocks: dict[str, list[str]] = {}
        for name in names:
            module = model.get_submodule(name)
            if not isinstance(module, (nn.Linear, _conv1d())):
                raise ValueError(
                    f"target module {name!r} is a {type(module).__name__}; D-LoRA "
                    "adapts linear layers (torch.nn.Linear, transformers' Conv1D)."
                )
            blocks.setdefault(_block_of(model, name), []).append(name)
        fewest = min(blocks, key=lambda block: len(blocks[block]))
        if config.top_n > len(blocks[fewest]):
            raise ValueError(
                f"top_n={config.top_n} is larger than the {len(blocks[fewest])} "
                f"D-LoRA modules of block {fewest!r} "
                f"({', '.join(n.removeprefix(fewest + '.') for n in blocks[fewest])}); "
                f"choose top_n <= {len(blocks[fewest])} or target more modules."
            )
        return blocks

    def _read_call(self, module, args, kwargs):
        """Keep what routing needs from the model call's arguments."""
        call = self._signature.bind_partial(*args, **kwargs).arguments
        # The cache's name depends on the transformers release; a model whose
        # forward does not declare it receives it in **kwargs.
        given = {**call.get("kwargs", {}), **call}
        cache = next((given[k] for k in CACHE_FIELDS if given.get(k) is not None), None)
        self._call = {
            "attention_mask": call.get("attention_mask"),
            "labels": call.get("labels"),
            "continues": cache is not None
            and hasattr(cache, "get_seq_length")
            and cache.get_seq_length() > 0,
        }

    def _routed_tokens(self, hidden):
        """(batch, length) bool: the tokens a router pools over."""
        batch, length = hidden.shape[:2]
        tokens = torch.ones(batch, length, dtype=torch.bool, device=hidden.device)
        mask, labels = self._call.get("attention_mask"), self._call.get("labels")
        # Shapes differ when a model inserts tokens or a block is called directly.
        if mask is not None and mask.shape == (batch, length):
            tokens = tokens & mask.bool()
        if labels is not None and labels.shape == (batch, length):
            prompt = tokens & (labels == _IGNORE_INDEX)
            tokens = torch.where(prompt.any(dim=1, keepdim=True), prompt, tokens)
        return tokens

    def _route(self, index, block, args, kwargs):
        """Set the gates of block ``index``'s modules before the block runs."""
        hidden = args[0] if args else kwargs["hidden_states"]
        router = self.routers[index]
        previous = router.last_gates
        if (
            self._call.get("continues")
            and previous is not None
            and len(hidden) % len(previous) == 0
        ):
            gates = previous.detach().repeat_interleave(len(hidden) // len(previous), 0)
        else:
            pooled = _pool(
                hidden, self._routed_tokens(hidden), self.dlora_config.pooling
            )
            gates = router(pooled)
        for layer, gate in zip(self.dlora_layers[index], gates.unbind(-1), strict=True):
            layer.gate = gate

    def forward(self, *args, **kwargs):
        """The model's output; with ``labels``, ``loss`` includes ``balance_loss()``."""
        out = self.model(*args, **kwargs)
        if getattr(out, "loss", None) is not None and self.dlora_config.balance_weight:
            out.loss = out.loss + self.balance_loss()
        return out

    def balance_loss(self):
        """The last routed forward's load-balancing loss, summed over blocks and
        times ``balance_weight`` (a scalar tensor with gradient)."""
        losses = [router.last_balance_loss for router in self.routers]
        if any(loss is None for loss in losses):
            raise RuntimeError("No forward pass has been routed yet.")
        return self.dlora_config.balance_weight * torch.stack(losses).sum()

    def routing(self):
        """Chosen modules of the last routed forward, LongTensor of shape
        (n_blocks, batch, top_n); indices into :attr:`module_names`, ascending."""
        if any(router.last_indices is None for router in self.routers):
            raise RuntimeError("No forward pass has been routed yet.")
        return torch.stack([router.last_indices for router in self.routers])

    def trainable_parameters(self) -> int:
        """Number of parameters that train (LoRA weights and routers)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def get_base_model(self):
        """The adapted Hugging Face model (peft's name for it)."""
        return self.model

    def dlora_state_dict(self) -> dict[str, torch.Tensor]:
        """The D-LoRA tensors only: LoRA weights and routers."""
        return {
            name: value
            for name, value in self.state_dict().items()
            if name.startswith("routers.") or ".lora_A." in name or ".lora_B." in name
        }

    def save_pretrained(self, directory) -> None:
        """Write the D-LoRA weights (safetensors) and config (JSON) to ``directory``."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {
            k: v.detach().cpu().contiguous() for k, v in self.dlora_state_dict().items()
        }
        save_file(tensors, directory / WEIGHTS_NAME)
        config = json.dumps(dataclasses.asdict(self.dlora_config), indent=2)
        (directory / CONFIG_NAME).write_text(config + "\n")

    @classmethod
    def load(cls, directory, model: nn.Module) -> DLoRAModel:
        """Add the D-LoRA saved in ``directory`` to ``model`` (the same base)."""
        from safetensors.torch import load_file

        directory = Path(directory)
        config = DLoRAConfig(**json.loads((directory / CONFIG_NAME).read_text()))
        wrapped = cls(model, config)
        state = load_file(directory / WEIGHTS_NAME)
        expected = set(wrapped.dlora_state_dict())
        if set(state) != expected:
            raise ValueError(
                f"The D-LoRA weights in {str(directory)!r} do not fit this model: "
                f"missing {sorted(expected - set(state))[:5]}, unexpected "
                f"{sorted(set(state) - expected)[:5]}."
            )
        wrapped.load_state_dict(state, strict=False)
        return wrapped

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "model":
                raise
            return getattr(self.model, name)


def add_dlora(model: nn.Module, config: DLoRAConfig | None = None) -> DLoRAModel:
    """Add D-LoRA to a Hugging Face causal LM (in place) and return the wrapper.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        E.g. ``load_backbone("tiny-llama").model``.
    config : DLoRAConfig, optional
        Defaults to ``DLoRAConfig()``.

    Returns
    -------
    DLoRAModel
        Only the LoRA weights and routers require grad.

    Examples
    --------
    >>> from vlmtsc.backbones import load_backbone
    >>> backbone = load_backbone("tiny-gpt2", verbose=0)
    >>> model = add_dlora(backbone.model, DLoRAConfig(r=4, top_n=1))
    >>> model.module_names[0]
    ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']
    >>> model.trainable_parameters()
    8712
    """
    return DLoRAModel(model, config)
