"""Discrete tokens for time series: the VQ-VAE tokenizer of seeds 000 and 002.

:class:`VQTokenizer` is a scikit-learn transformer: ``fit`` trains a TCN VQ-VAE
to reconstruct the series, ``transform`` returns token ids ``(n_cases,
n_tokens)``, ``inverse_transform`` decodes them. Language-model estimators use
it to add time-series tokens to a vocabulary (InstructTime) or to pre-train on
masked tokens (CrossTimeNet). :func:`plot_reconstruction` and
:func:`plot_token_usage` draw the seed's Figures 4 and 5.

The torch modules behind it, :class:`VQVAE` and :class:`EMAVectorQuantizer`,
follow vector-quantize-pytorch's interface (``quantized, indices, loss =
vq(x)``, codes looked up from indices). They load torch on first access;
importing this package alone does not.
"""

from vlmtsc.tokenizers._plots import plot_reconstruction, plot_token_usage
from vlmtsc.tokenizers._tokenizer import VQTokenizer, fit_tokenizer

__all__ = [
    "VQVAE",
    "EMAVectorQuantizer",
    "VQTokenizer",
    "fit_tokenizer",
    "plot_reconstruction",
    "plot_token_usage",
]

_TORCH_MODULES = ("EMAVectorQuantizer", "VQVAE")


def __getattr__(name):
    # The torch modules load lazily so that `import vlmtsc.tokenizers` stays cheap.
    if name in _TORCH_MODULES:
        from vlmtsc.tokenizers import _modules

        return getattr(_modules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
