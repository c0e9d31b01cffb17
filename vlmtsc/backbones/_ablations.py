"""Stand-ins for a language model: the ablations that ask what it contributes.

Tan et al. (NeurIPS 2024, "Are language models actually useful for time series
forecasting?") replaced the language model of LLM-based time-series methods by
nothing, or by one randomly initialised attention layer, and found that either
often does as well. :func:`language_model_stand_in` builds those stand-ins, and
a randomly initialised copy of the model (same architecture, no pretraining),
so that an estimator can offer them with one parameter (``language_model=``)
and its benchmark can publish the comparison.

A stand-in is called as the backbone is (``inputs_embeds`` and optionally
``attention_mask``), answers with ``last_hidden_state`` and keeps the replaced
model's ``config`` (its hidden size).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

__all__ = [
    "LANGUAGE_MODELS",
    "STAND_INS",
    "RandomLanguageModel",
    "language_model_stand_in",
    "refuse_to_discard",
]

#: ``language_model=`` values: the model as loaded, and its three ablations.
LANGUAGE_MODELS = ("pretrained", "random", "attention", "none")
#: The ablations that replace the model by another module (trained whole).
STAND_INS = ("attention", "none")


def refuse_to_discard(artifact, language_model: str, backbone) -> None:
    """Refuse an ablation of a language model that a ``pretrain()`` folder
    (``artifact``, or ``None``) holds: it would throw the pre-training away."""
    if artifact is not None and language_model != "pretrained":
        raise ValueError(
            f"language_model={language_model!r} would discard the pre-trained "
            f"language model of {backbone!r}; pass its base backbone instead, "
            "or language_model='pretrained'."
        )


def language_model_stand_in(model, language_model: str, n_heads: int, seed: int):
    """``model`` (a transformers base model) or what replaces it.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        The backbone's model as the estimator uses it (a base model, or with
        its LM head for ``"random"``).
    language_model : {"pretrained", "random", "attention", "none"}
        ``"pretrained"``: ``model`` itself. ``"random"``: the same class
        re-initialised from its config (what pretraining adds). ``"attention"``:
        one randomly initialised multi-head self-attention layer of the model's
        hidden size (pre-norm, residual; trained). ``"none"``: no model at all,
        the input embeddings are the output states.
    n_heads : int
        Heads of the ``"attention"`` layer (a divisor of the hidden size).
    seed : int
        Seed of the new weights (``"random"`` uses ``seed + 1``: tiny aliases
        are themselves random weights drawn with ``seed``).

    Returns
    -------
    torch.nn.Module

    Examples
    --------
    >>> import torch
    >>> from vlmtsc.backbones import load_backbone
    >>> model = load_backbone("tiny-llama", verbose=0).model.base_model
    >>> layer = language_model_stand_in(model, "attention", n_heads=4, seed=0)
    >>> layer(inputs_embeds=torch.zeros(2, 5, 64)).last_hidden_state.shape
    torch.Size([2, 5, 64])
    """
    import torch

    if language_model not in LANGUAGE_MODELS:
        raise ValueError(
            f"language_model={language_model!r}; choose one of {LANGUAGE_MODELS}."
        )
    if language_model == "pretrained":
        return model
    hidden = model.config.get_text_config().hidden_size
    with torch.random.fork_rng(devices=[]):
        if language_model == "random":
            torch.manual_seed(seed + 1)
            fresh = type(model)(model.config)
            return fresh.to(device=model.device, dtype=model.dtype)
        torch.manual_seed(seed)
        if language_model == "attention":
            if hidden % n_heads:
                raise ValueError(
                    f"n_heads={n_heads} does not divide the hidden size {hidden}."
                )
            stand_in = _modules().OneAttentionLayer(hidden, n_heads)
        else:
            stand_in = _modules().NoLanguageModel()
    stand_in.config = model.config  # the hidden size, for the caller's layers
    return stand_in


class RandomLanguageModel:
    """A ``prepare`` step of :class:`~vlmtsc.training.LabelScoringModel`: the
    loaded language model swapped for a randomly initialised one of the same
    class (``language_model_stand_in(model, "random", ...)``), then ``then``
    (e.g. a :class:`~vlmtsc.adapters.SeriesVocabulary`).

    Picklable, so a saved classifier reloads the same random weights.
    """

    def __init__(self, seed: int, then=None):
        self.seed = seed
        self.then = then

    def __call__(self, backbone) -> list[str]:
        backbone.model = language_model_stand_in(backbone.model, "random", 1, self.seed)
        return [] if self.then is None else self.then(backbone)


@functools.cache
def _modules() -> SimpleNamespace:
    """The torch classes, defined on first use so torch loads lazily."""
    from torch import nn

    class OneAttentionLayer(nn.Module):
        """One pre-norm multi-head self-attention layer with a residual."""

        def __init__(self, hidden: int, n_heads: int):
            super().__init__()
            self.norm = nn.LayerNorm(hidden)
            self.attention = nn.MultiheadAttention(hidden, n_heads, batch_first=True)

        def forward(self, inputs_embeds, attention_mask=None, **_):
            x = self.norm(inputs_embeds)
            padding = None if attention_mask is None else attention_mask == 0
            attended, _ = self.attention(
                x, x, x, key_padding_mask=padding, need_weights=False
            )
            return SimpleNamespace(last_hidden_state=inputs_embeds + attended)

    class NoLanguageModel(nn.Module):
        """The input embeddings, unchanged, as the output states."""

        def forward(self, inputs_embeds, attention_mask=None, **_):
            return SimpleNamespace(last_hidden_state=inputs_embeds)

    return SimpleNamespace(
        OneAttentionLayer=OneAttentionLayer, NoLanguageModel=NoLanguageModel
    )
