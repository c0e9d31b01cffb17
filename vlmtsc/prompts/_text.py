"""Series as text: numeric serialisation and summary statistics.

Statistics are generic (they make sense for any signal, unlike the ECG-specific
features of the seed-001 code) and are computed per channel.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STATISTICS", "format_statistics", "serialize_series", "series_statistics"]


def _format_number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    # "-0.00" reads as a different number to a language model than "0.00".
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def serialize_series(x, *, decimals: int = 2, separator: str = ", ") -> str:
    """Write one case as text.

    A univariate series is a plain list of values; a multivariate one gets one
    ``Dimension i: [...]`` line per channel (seed 001's format).

    Parameters
    ----------
    x : ndarray of shape (n_channels, n_timepoints) or (n_timepoints,)
        One case.
    decimals : int, default=2
        Digits after the decimal point.
    separator : str, default=", "
        Between values.

    Returns
    -------
    str

    Examples
    --------
    >>> import numpy as np
    >>> serialize_series(np.array([0.123, -1.5, 2.0]))
    '0.12, -1.50, 2.00'
    >>> print(serialize_series(np.array([[1.0, 2.0], [3.0, 4.0]]), decimals=1))
    Dimension 1: [1.0, 2.0]
    Dimension 2: [3.0, 4.0]
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    lines = [
        separator.join(_format_number(v, decimals) for v in channel) for channel in x
    ]
    if len(lines) == 1:
        return lines[0]
    return "\n".join(f"Dimension {i + 1}: [{line}]" for i, line in enumerate(lines))


def _statistics_of(v: np.ndarray) -> dict[str, float]:
    n = v.shape[0]
    mean = v.mean()
    centred = v - mean
    std = v.std()
    scale = std if std > 0 else 1.0
    z = centred / scale
    slope = np.polyfit(np.arange(n), v, 1)[0] if n > 1 else 0.0
    lag1 = float((z[:-1] * z[1:]).mean()) if n > 1 and std > 0 else 0.0
    crossings = np.count_nonzero(np.diff(np.signbit(centred))) / max(n - 1, 1)
    interior = v[1:-1]
    peaks = np.count_nonzero((interior > v[:-2]) & (interior >= v[2:])) if n > 2 else 0
    power = np.abs(np.fft.rfft(centred)) ** 2
    if n > 1 and power[1:].sum() > 0:
        freqs = np.fft.rfftfreq(n)
        spectrum = power[1:] / power[1:].sum()
        dominant = float(freqs[1:][np.argmax(power[1:])])
        centroid = float((freqs[1:] * spectrum).sum())
        entropy = float(
            -(spectrum * np.log(spectrum + 1e-300)).sum()
            / np.log(max(len(spectrum), 2))
        )
    else:
        dominant = centroid = entropy = 0.0
    return {
        "mean": float(mean),
        "std": float(std),
        "min": float(v.min()),
        "max": float(v.max()),
        "median": float(np.median(v)),
        "skewness": float((z**3).mean()) if std > 0 else 0.0,
        "kurtosis": float((z**4).mean() - 3.0) if std > 0 else 0.0,
        "slope": float(slope),
        "lag1_autocorrelation": lag1,
        "zero_crossing_rate": float(crossings),
        "peaks": float(peaks),
        "energy": float((v**2).mean()),
        "dominant_frequency": dominant,
        "spectral_centroid": centroid,
        "spectral_entropy": entropy,
    }


STATISTICS = tuple(_statistics_of(np.arange(4.0)))
"""Names of the statistics :func:`series_statistics` computes, in order."""


def series_statistics(x) -> list[dict[str, float]]:
    """Summary statistics of each channel of one case.

    ``mean, std, min, max, median, skewness, kurtosis`` (excess), ``slope`` (least
    squares, per timepoint), ``lag1_autocorrelation``, ``zero_crossing_rate`` (of
    the mean-centred series, per step), ``peaks`` (local maxima), ``energy`` (mean
    square), ``dominant_frequency`` and ``spectral_centroid`` (cycles per
    timepoint) and ``spectral_entropy`` (normalised to [0, 1]).

    Parameters
    ----------
    x : ndarray of shape (n_channels, n_timepoints) or (n_timepoints,)

    Returns
    -------
    list of dict
        One dict per channel, keys as in :data:`STATISTICS`.

    Examples
    --------
    >>> import numpy as np
    >>> stats = series_statistics(np.sin(np.linspace(0, 8 * np.pi, 200)))
    >>> round(stats[0]["dominant_frequency"], 3), stats[0]["peaks"]
    (0.02, 4.0)
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    return [_statistics_of(channel) for channel in x]


def format_statistics(x, *, digits: int = 3) -> str:
    """:func:`series_statistics` as prompt text, one line per channel.

    Statistics span many scales (frequencies of 0.004, energies of 1e4), so they
    are written with ``digits`` significant digits rather than fixed decimals.

    Examples
    --------
    >>> import numpy as np
    >>> format_statistics(np.array([1.0, 2.0, 3.0]))[:36]
    'Statistics: mean=2, std=0.816, min=1'
    """
    stats = series_statistics(x)
    lines = []
    for i, channel in enumerate(stats):
        # Round-off residue such as a mean of 1e-17 is written as 0.
        values = ", ".join(
            f"{k}={(v if abs(v) > 1e-12 else 0.0):.{digits}g}"
            for k, v in channel.items()
        )
        head = "Statistics" if len(stats) == 1 else f"Dimension {i + 1} statistics"
        lines.append(f"{head}: {values}")
    return "\n".join(lines)
