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
    "SeriesTokenHead",
    "SeriesVocabulary",
    "series_text",
    "series_token",
]

SERIES_START, SERIES_END = "<BET>", "<EET>"


def series_token(domain: str, code: int) -> str:
    """The vocabulary entry of code ``code`` of ``domain``'s codebook."""
    return f"<ts:{domain}:{code}>"


def series_text(domain: str, codes) -> str:
    """The prompt text of one tokenized series: ``<BET>`` tokens ``<EET>``."""
    body = "".join(series_token(domain, int(code)) for code in codes)
    return f"{SERIES_START}{body}{SERIES_END}"


class SeriesProjection(nn.Module):
    """Codebook vectors -> embedding space, one two-layer MLP per domain.

    Each domain's codebook is standardised (per dimension, over its codes), sent
    through ``Linear -> GELU -> Linear`` and a ``LayerNorm`` whose scale and
    shift start at the statistics of the model's word embeddings. Series tokens
    therefore enter the model at the size of ordinary tokens and as different
    from each other as their codes are. (A plain MLP gives vectors a quarter of a
    word embedding's norm that differ mostly by its shared bias: the model then
    barely tells two series apart, and fine-tuning stays at chance.)

    Parameters
    ----------
    ranges : list of (int, ndarray)
        Per domain, the id of its first token and its codebook
        ``(n_codes, code_dim)``.
    word_embeddings : Tensor
        The model's embedding matrix before the new rows were added (only its
        per-dimension mean and standard deviation are used).
    """

    def __init__(self, ranges, word_embeddings):
        super().__init__()
        width = word_embeddings.shape[1]
        self.first_ids = [int(first) for first, _ in ranges]
        self.sizes = [len(codebook) for _, codebook in ranges]
        for i, (_, codebook) in enumerate(ranges):
            codebook = torch.as_tensor(np.asarray(codebook), dtype=torch.float32)
            mean = codebook.mean(dim=0)
            scale = codebook.std(dim=0, correction=0).clamp_min(1e-6)
            self.register_buffer(f"codebook_{i}", (codebook - mean) / scale)
        self.mlps = nn.ModuleList(
            nn.Sequential(
                nn.Linear(codebook.shape[1], width),
                nn.GELU(),
                nn.Linear(width, width),
                nn.LayerNorm(width),
            )
            for _, codebook in ranges
        )
        words = word_embeddings.detach().float()
        with torch.no_grad():
            for mlp in self.mlps:
                mlp[-1].weight.copy_(words.std(dim=0))
                mlp[-1].bias.copy_(words.mean(dim=0))

    def table(self) -> list[tuple[int, torch.Tensor]]:
        """Per domain, its first token id and the vectors of all its codes."""
        return [
            (first, self.mlps[i](getattr(self, f"codebook_{i}")))
            for i, first in enumerate(self.first_ids)
        ]

    def forward(self, input_ids, embeddings=None):
        """Replace the series tokens' rows of ``embeddings`` by their projection.

        With ``input_ids=None``: :meth:`table` (called through ``forward`` so
        that peft's wrapper of a trained copy answers).
        """
        if input_ids is None:
            return self.table()
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


class SeriesTokenHead(nn.Module):
    """The output layer with series-token logits from the same projection.

    ``logits[..., id(code)] = hidden @ projection(code)``: the output side of
    the series tokens is tied to their input side, as a tied embedding matrix
    would be, so the model can predict series tokens (autoregressive
    pre-training on unlabelled series) without a free output row per code.
    """

    def __init__(self, head: nn.Module, embedding: SeriesTokenEmbedding):
        super().__init__()
        self.head = head
        self._embedding = [embedding]  # not a submodule: one projection, two uses

    @property
    def weight(self):
        return self.head.weight

    def forward(self, hidden):
        logits = self.head(hidden)
        for first, vectors in self._embedding[0].series_projection(None):
            series = hidden @ vectors.to(hidden.dtype).T
            logits = torch.cat(
                [
                    logits[..., :first],
                    series.to(logits.dtype),
                    logits[..., first + len(vectors) :],
                ],
                dim=-1,
            )
        return logits


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
    >>> tokens = series_text("ecg", [3, 0])
    >>> tokens
    '<BET><ts:ecg:3><ts:ecg:0><EET>'
    >>> len(backbone.tokenizer(tokens, add_special_tokens=False)["input_ids"])
    4
    """

    def __init__(self, codebooks: Mapping[str, np.ndarray]):
        self.codebooks = {name: np.asarray(book) for name, book in codebooks.items()}

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
        projection = SeriesProjection(ranges, embedding.weight[:old_size]).to(
            embedding.weight.device
        )
        series_embedding = SeriesTokenEmbedding(embedding, projection)
        model.set_input_embeddings(series_embedding)
        model.set_output_embeddings(
            SeriesTokenHead(model.get_output_embeddings(), series_embedding)
        )
        return ["series_projection"]

    @staticmethod
    def materialize(model) -> None:
        """Write every series token's projection into the embedding rows.

        Replaces :class:`SeriesTokenEmbedding` and :class:`SeriesTokenHead` by
        the plain layers they wrap (output rows too, when untied), so the model
        saves and loads as an ordinary transformers model that reads and
        predicts the same series tokens.
        """
        embedding_wrapper = model.get_input_embeddings()
        if not isinstance(embedding_wrapper, SeriesTokenEmbedding):
            return
        embedding = embedding_wrapper.embedding
        head = model.get_output_embeddings()
        head = head.head if isinstance(head, SeriesTokenHead) else head
        with torch.no_grad():
            for first, vectors in embedding_wrapper.series_projection(None):
                rows = slice(first, first + len(vectors))
                embedding.weight[rows] = vectors.to(embedding.weight.dtype)
                if head.weight.data_ptr() != embedding.weight.data_ptr():
                    head.weight[rows] = vectors.to(head.weight.dtype)
        model.set_input_embeddings(embedding)
        model.set_output_embeddings(head)
