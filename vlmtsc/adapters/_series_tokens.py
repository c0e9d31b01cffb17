"""Time-series tokens in a language model's vocabulary (InstructTime's recipe).

A VQ tokenizer turns a series into codebook indices. Each domain's codes become
new tokens ``<ts:domain:k>`` of the language model, framed by ``<BET>`` and
``<EET>``. Their input embeddings are not free rows of the embedding matrix but
the domain's frozen codebook vectors through a small learned MLP into the model's
embedding space, so tokens that reconstruct similar patches start close together
and the few training series do not have to learn 100+ embeddings from scratch.

Everything downstream (chat template, collation, LoRA, label scoring with the
KV cache) sees ordinary token ids.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

__all__ = [
    "SERIES_END",
    "SERIES_START",
    "SeriesProjection",
    "SeriesTokenEmbedding",
    "SeriesVocabulary",
    "series_token",
]

SERIES_START, SERIES_END = "<BET>", "<EET>"


def series_token(domain: str, code: int) -> str:
    """The vocabulary entry of code ``code`` of ``domain``'s codebook."""
    return f"<ts:{domain}:{code}>"


class SeriesProjection(nn.Module):
    """Codebook vectors -> embedding space, one two-layer MLP per domain.

    Parameters
    ----------
    ranges : list of (int, ndarray)
        Per domain, the id of its first token and its codebook
        ``(n_codes, code_dim)``.
    width : int
        The language model's embedding size.
    """

    def __init__(self, ranges, width: int):
        super().__init__()
        self.first_ids = [int(first) for first, _ in ranges]
        self.sizes = [len(codebook) for _, codebook in ranges]
        for i, (_, codebook) in enumerate(ranges):
            codebook = torch.as_tensor(np.asarray(codebook), dtype=torch.float32)
            self.register_buffer(f"codebook_{i}", codebook)
        self.mlps = nn.ModuleList(
            nn.Sequential(
                nn.Linear(codebook.shape[1], width), nn.GELU(), nn.Linear(width, width)
            )
            for _, codebook in ranges
        )

    def forward(self, input_ids, embeddings):
        for i, (first, size) in enumerate(zip(self.first_ids, self.sizes, strict=True)):
            hit = (input_ids >= first) & (input_ids < first + size)
            if not hit.any():
                continue
            codebook = getattr(self, f"codebook_{i}")
            codes = (input_ids - first).clamp(0, size - 1)
            projected = self.mlps[i](codebook[codes]).to(embeddings.dtype)
            embeddings = torch.where(hit[..., None], projected, embeddings)
        return embeddings


class SeriesTokenEmbedding(nn.Module):
    """The model's input embedding with series tokens taken from the projection.

    ``weight`` is the wrapped embedding's, so weight tying and resizing keep
    working.
    """

    def __init__(self, embedding: nn.Embedding, projection: SeriesProjection):
        super().__init__()
        self.embedding = embedding
        self.series_projection = projection

    @property
    def weight(self):
        return self.embedding.weight

    @property
    def num_embeddings(self) -> int:
        return self.embedding.num_embeddings

    @property
    def embedding_dim(self) -> int:
        return self.embedding.embedding_dim

    def forward(self, input_ids):
        return self.series_projection(input_ids, self.embedding(input_ids))


class SeriesVocabulary:
    """Extend a loaded backbone with the series tokens of one or more domains.

    A picklable recipe for :class:`~vlmtsc.training.LabelScoringModel`'s
    ``prepare`` step: it runs on every (re)load of the backbone, before LoRA.

    Parameters
    ----------
    codebooks : dict
        Domain name -> codebook ``(n_codes, code_dim)`` of its VQ tokenizer.

    Examples
    --------
    >>> import numpy as np
    >>> from vlmtsc.backbones import load_backbone
    >>> backbone = load_backbone("tiny-llama")
    >>> vocabulary = SeriesVocabulary({"ecg": np.eye(4)})
    >>> vocabulary(backbone)
    ['series_projection']
    >>> tokens = vocabulary.tokens("ecg", [3, 0])
    >>> tokens
    '<BET><ts:ecg:3><ts:ecg:0><EET>'
    >>> len(backbone.tokenizer(tokens, add_special_tokens=False)["input_ids"])
    4
    """

    def __init__(self, codebooks: Mapping[str, np.ndarray]):
        self.codebooks = {name: np.asarray(book) for name, book in codebooks.items()}

    def tokens(self, domain: str, codes) -> str:
        """The prompt text of one tokenized series of ``domain``."""
        body = "".join(series_token(domain, int(code)) for code in codes)
        return f"{SERIES_START}{body}{SERIES_END}"

    def __call__(self, backbone) -> list[str]:
        """Add the tokens to ``backbone`` in place; names of modules to train."""
        tokenizer, model = backbone.tokenizer, backbone.model
        new = [SERIES_START, SERIES_END] + [
            series_token(domain, k)
            for domain, book in self.codebooks.items()
            for k in range(len(book))
        ]
        tokenizer.add_tokens(new, special_tokens=True)
        old_size = model.get_input_embeddings().weight.shape[0]
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        embedding = model.get_input_embeddings()
        with torch.no_grad():
            # Deterministic new rows (the output layer's, when tied): a reload
            # must rebuild the same model for pickled or saved adapters.
            embedding.weight[old_size:] = embedding.weight[:old_size].mean(dim=0)
        ranges = [
            (tokenizer.convert_tokens_to_ids(series_token(domain, 0)), book)
            for domain, book in self.codebooks.items()
        ]
        projection = SeriesProjection(ranges, embedding.embedding_dim).to(
            embedding.weight.device
        )
        model.set_input_embeddings(SeriesTokenEmbedding(embedding, projection))
        return ["series_projection"]
