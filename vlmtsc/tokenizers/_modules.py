"""The torch modules of the VQ tokenizer: a TCN VQ-VAE with an EMA codebook.

The architecture of InstructTime's tokenizer (seed 000, shared by CrossTimeNet,
seed 002): a per-timestep linear input projection, a stack of residual blocks of
two causal dilated convolutions (LayerNorm, ReZero scale, dropout), a linear map
of each patch of ``patch_length`` steps (all channels together) to one
``embedding_dim`` vector, an exponential-moving-average codebook, and a decoder
that mirrors the encoder. The quantizer follows vector-quantize-pytorch's
interface: ``quantized, indices, loss = vq(x)``, and codes can be looked up from
indices.

Every convolution is causal, so a token depends only on the timepoints up to the
end of its patch: a series gets the same tokens alone, in a batch, or padded at
the tail to the length of a longer series.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["VQVAE", "EMAVectorQuantizer", "TCNBlock", "VQVAEOutput"]


class EMAVectorQuantizer(nn.Module):
    """Nearest-neighbour vector quantizer whose codebook follows an EMA.

    The codebook is not trained by the optimiser: in training mode each forward
    pass moves every code towards the mean of the vectors assigned to it (the
    VQ-VAE-2 update with Laplace smoothing), and codes whose moving-average usage
    falls below ``dead_code_threshold`` are re-seeded with random vectors of the
    batch. The codebook and its statistics are buffers, so they are saved in
    ``state_dict`` but not in ``parameters()``.

    Parameters
    ----------
    dim : int
        Size of each code vector.
    codebook_size : int
        Number of codes.
    decay : float, default=0.9
        EMA decay of the codebook statistics (closer to 1 = slower).
    commitment_weight : float, default=0.25
        Weight of ``mean((x - sg(quantized))**2)`` in the returned loss.
    dead_code_threshold : float, default=1.0
        A code whose moving-average count of assigned vectors per batch falls
        below this is replaced by a random vector of the current batch; ``0``
        disables the reset.
    eps : float, default=1e-5
        Laplace smoothing of the code counts.

    Examples
    --------
    >>> import torch
    >>> vq = EMAVectorQuantizer(dim=4, codebook_size=8)
    >>> vq.init_codebook(torch.randn(100, 4))
    >>> quantized, indices, loss = vq(torch.randn(2, 5, 4))
    >>> quantized.shape, indices.shape, loss.shape
    (torch.Size([2, 5, 4]), torch.Size([2, 5]), torch.Size([]))
    >>> torch.allclose(vq.get_codes_from_indices(indices), quantized)
    True
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        decay: float = 0.9,
        commitment_weight: float = 0.25,
        dead_code_threshold: float = 1.0,
        eps: float = 1e-5,
    ):
        super().__init__()
        self.dim = dim
        self.codebook_size = codebook_size
        self.decay = decay
        self.commitment_weight = commitment_weight
        self.dead_code_threshold = dead_code_threshold
        self.eps = eps
        self.register_buffer("embed", torch.randn(codebook_size, dim))
        self.register_buffer("embed_avg", self.embed.clone())
        self.register_buffer("cluster_size", torch.ones(codebook_size))

    @torch.no_grad()
    def init_codebook(self, vectors: torch.Tensor) -> None:
        """Seed the codes with random rows of ``vectors`` (data-dependent init).

        The counts start as the number of ``vectors`` nearest to each code, so
        codes no vector chose are the first to be reset as dead.
        """
        vectors = vectors.reshape(-1, self.dim).float()
        self.embed.copy_(_sample(vectors, self.codebook_size))
        counts = torch.bincount(self._nearest(vectors), minlength=self.codebook_size)
        self.cluster_size.copy_(counts.float())
        self.embed_avg.copy_(self.embed * self.cluster_size[:, None])

    def _nearest(self, flat: torch.Tensor) -> torch.Tensor:
        distances = (
            flat.pow(2).sum(1, keepdim=True)
            - 2 * flat @ self.embed.t()
            + self.embed.pow(2).sum(1)[None, :]
        )
        return distances.argmin(dim=1)

    def get_codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Code vectors of ``indices``: shape ``indices.shape + (dim,)``."""
        return F.embedding(indices, self.embed)

    def forward(self, x: torch.Tensor):
        """Quantize ``x`` of shape ``(..., dim)``.

        Returns
        -------
        quantized : Tensor of shape (..., dim)
            The nearest codes, with straight-through gradients to ``x``.
        indices : LongTensor of shape (...)
        loss : Tensor
            ``commitment_weight`` times the commitment loss.
        """
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            flat = x.detach().reshape(-1, self.dim)
            indices = self._nearest(flat)
            if self.training:
                self._ema_update(flat, indices)
                indices = self._nearest(flat)  # codes may have moved or been reset
            indices = indices.reshape(x.shape[:-1])
            codes = self.get_codes_from_indices(indices)
            loss = self.commitment_weight * F.mse_loss(x, codes)
            quantized = x + (codes - x).detach()
        return quantized, indices, loss

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, indices: torch.Tensor) -> None:
        onehot = F.one_hot(indices, self.codebook_size).type(flat.dtype)
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (
            (self.cluster_size + self.eps)
            / (total + self.codebook_size * self.eps)
            * total
        )
        self.embed.copy_(self.embed_avg / smoothed[:, None])
        self.reset_dead_codes(flat)

    @torch.no_grad()
    def reset_dead_codes(self, flat: torch.Tensor) -> torch.Tensor:
        """Re-seed codes used less than ``dead_code_threshold`` from ``flat``.

        Returns the boolean mask of the codes that were reset.
        """
        dead = self.cluster_size < self.dead_code_threshold
        n_dead = int(dead.sum())
        if n_dead:
            seeds = _sample(flat, n_dead)
            self.embed[dead] = seeds
            # Give a fresh code the threshold's worth of usage, as
            # vector-quantize-pytorch does, so it has a few batches to attract
            # vectors before it can be declared dead again.
            self.cluster_size[dead] = self.dead_code_threshold
            self.embed_avg[dead] = seeds * self.dead_code_threshold
        return dead


def _sample(vectors: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` random rows of ``vectors`` (with replacement if there are fewer)."""
    if vectors.shape[0] >= n:
        index = torch.randperm(vectors.shape[0], device=vectors.device)[:n]
    else:
        index = torch.randint(0, vectors.shape[0], (n,), device=vectors.device)
    return vectors[index]


class TCNBlock(nn.Module):
    """Residual block of two causal dilated convolutions (seed 000's TCN).

    ``x + alpha * dropout(relu(ln(conv2(relu(ln(conv1(x)))))))`` with dilations
    ``dilation`` and ``2 * dilation`` and the ReZero scale ``alpha`` starting at
    0, so a fresh stack is the identity. Input and output: ``(batch, time,
    channels)``.
    """

    def __init__(
        self, channels: int, kernel_size: int = 3, dilation: int = 1, dropout=0.1
    ):
        super().__init__()
        self.dilations = (dilation, 2 * dilation)
        self.kernel_size = kernel_size
        self.conv1 = nn.Conv1d(channels, channels, kernel_size, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size, dilation=2 * dilation)
        self.norm1 = nn.LayerNorm(channels)
        self.norm2 = nn.LayerNorm(channels)
        self.dropout = nn.Dropout(dropout)
        self.alpha = nn.Parameter(torch.zeros(1))

    def _causal(self, conv, x, dilation):
        # Left padding only: the output at t sees inputs up to t.
        out = conv(F.pad(x.transpose(1, 2), ((self.kernel_size - 1) * dilation, 0)))
        return out.transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(self._causal(self.conv1, x, self.dilations[0])))
        h = F.relu(self.norm2(self._causal(self.conv2, h, self.dilations[1])))
        return x + self.alpha * self.dropout(h)


def _tcn(channels, n_blocks, dropout) -> nn.Sequential:
    # Dilations cycle through (1, 4) as in seed 000.
    return nn.Sequential(
        *(
            TCNBlock(channels, 3, dilation=(1, 4)[i % 2], dropout=dropout)
            for i in range(n_blocks)
        )
    )


@dataclass
class VQVAEOutput:
    """What :class:`VQVAE` returns for a batch."""

    loss: torch.Tensor
    reconstruction: torch.Tensor
    indices: torch.Tensor
    reconstruction_loss: torch.Tensor
    commitment_loss: torch.Tensor


class VQVAE(nn.Module):
    """TCN encoder, EMA vector quantizer and TCN decoder over patches.

    Parameters
    ----------
    n_channels : int
        Channels of the input series.
    patch_length : int
        Timepoints per token; one token spans every channel.
    stride : int
        Step between patch starts (``patch_length``: non-overlapping; smaller:
        overlapping patches, decoded by overlap-averaging).
    codebook_size, embedding_dim : int
        Number and size of the codes.
    hidden_size : int, default=64
        Channels of the TCNs.
    n_blocks : int, default=8
        Residual blocks in the encoder and in the decoder.
    dropout : float, default=0.1
    decay, commitment_weight, dead_code_threshold : float
        See :class:`EMAVectorQuantizer`.

    Notes
    -----
    Input series have shape ``(batch, n_channels, n_timepoints)`` with
    ``n_timepoints = patch_length + k * stride`` for some ``k >= 0`` (the
    tokenizer pads them); a batch yields ``k + 1`` tokens per series.
    """

    def __init__(
        self,
        n_channels: int,
        patch_length: int,
        stride: int,
        codebook_size: int,
        embedding_dim: int,
        hidden_size: int = 64,
        n_blocks: int = 8,
        dropout: float = 0.1,
        decay: float = 0.9,
        commitment_weight: float = 0.25,
        dead_code_threshold: float = 1.0,
    ):
        super().__init__()
        self.n_channels = n_channels
        self.patch_length = patch_length
        self.stride = stride
        self.hidden_size = hidden_size
        self.input_projection = nn.Linear(n_channels, hidden_size)
        self.encoder = _tcn(hidden_size, n_blocks, dropout)
        self.encoder_norm = nn.LayerNorm(hidden_size)
        self.to_embedding = nn.Linear(patch_length * hidden_size, embedding_dim)
        self.quantizer = EMAVectorQuantizer(
            embedding_dim,
            codebook_size,
            decay=decay,
            commitment_weight=commitment_weight,
            dead_code_threshold=dead_code_threshold,
        )
        self.from_embedding = nn.Linear(embedding_dim, patch_length * hidden_size)
        self.decoder = _tcn(hidden_size, n_blocks, dropout)
        self.decoder_norm = nn.LayerNorm(hidden_size)
        self.output_projection = nn.Linear(hidden_size, n_channels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous patch embeddings ``(batch, n_tokens, embedding_dim)``."""
        h = self.encoder_norm(self.encoder(self.input_projection(x.transpose(1, 2))))
        # (batch, time, hidden) -> (batch, n_tokens, hidden, patch_length)
        windows = h.unfold(1, self.patch_length, self.stride)
        windows = windows.transpose(2, 3).flatten(2)
        return self.to_embedding(windows)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Series ``(batch, n_channels, n_timepoints)`` from code vectors."""
        batch, n_tokens, _ = codes.shape
        k, s, hidden = self.patch_length, self.stride, self.hidden_size
        length = (n_tokens - 1) * s + k
        windows = self.from_embedding(codes).reshape(batch, n_tokens, k, hidden)
        if s == k:
            h = windows.reshape(batch, length, hidden)
        else:
            # Overlap-add the windows, then average where they overlap.
            cols = windows.permute(0, 3, 2, 1).reshape(batch, hidden * k, n_tokens)
            fold = dict(output_size=(1, length), kernel_size=(1, k), stride=(1, s))
            h = F.fold(cols, **fold).reshape(batch, hidden, length)
            ones = torch.ones(1, k, n_tokens, device=codes.device, dtype=h.dtype)
            h = (h / F.fold(ones, **fold).reshape(1, 1, length)).transpose(1, 2)
        h = self.decoder_norm(self.decoder(h))
        return self.output_projection(h).transpose(1, 2)

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Series ``(batch, n_channels, n_timepoints)`` from token ids."""
        return self.decode_codes(self.quantizer.get_codes_from_indices(indices))

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        """Token ids ``(batch, n_tokens)`` of series ``x``."""
        _, indices, _ = self.quantizer(self.encode(x))
        return indices

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        """Reconstruct ``x``; the loss is the masked MSE plus the commitment loss.

        Parameters
        ----------
        x : Tensor of shape (batch, n_channels, n_timepoints)
        mask : Tensor of shape (batch, n_timepoints), optional
            1 where a timepoint is real, 0 where it is padding (excluded from
            the reconstruction loss).
        """
        quantized, indices, commitment = self.quantizer(self.encode(x))
        reconstruction = self.decode_codes(quantized)
        error = (reconstruction.float() - x.float()).pow(2)
        if mask is None:
            reconstruction_loss = error.mean()
        else:
            mask = mask[:, None, :].to(error.dtype)
            reconstruction_loss = (error * mask).sum() / (
                mask.sum() * x.shape[1]
            ).clamp(min=1)
        return VQVAEOutput(
            loss=reconstruction_loss + commitment,
            reconstruction=reconstruction,
            indices=indices,
            reconstruction_loss=reconstruction_loss,
            commitment_loss=commitment,
        )
