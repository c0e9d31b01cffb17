"""Pre-training artifacts: the folders ``pretrain()`` writes and ``backbone=`` takes.

``InstructTimeClassifier.pretrain`` and ``CrossTimeNetClassifier.pretrain`` each
write a Hugging Face model folder (the trained causal LM, or the trained encoder)
plus vlmtsc's own files: a JSON record, the fitted VQ tokenizers of every domain
and, for CrossTimeNet, the learnt code embeddings. The folder is a backbone spec
like any other (it loads with ``from_pretrained``); this module is the one place
that knows those files, so a folder is recognised, read and written the same way
everywhere.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "PRETRAINING_FORMATS",
    "PretrainingFormat",
    "pretraining_method",
    "read_pretraining",
    "write_pretraining",
]


@dataclass(frozen=True)
class PretrainingFormat:
    """The vlmtsc files of one estimator's pre-training artifact.

    Attributes
    ----------
    record : str
        JSON record (domains, descriptions, history...); marks the folder.
    tokenizers : str
        Pickle of ``{domain: fitted VQTokenizer}``.
    arrays : str or None
        ``.npz`` of learnt arrays (CrossTimeNet's code embeddings), if any.
    """

    record: str
    tokenizers: str
    arrays: str | None = None


PRETRAINING_FORMATS = {
    "InstructTimeClassifier": PretrainingFormat(
        "vlmtsc_pretraining.json", "vlmtsc_tokenizers.pkl"
    ),
    "CrossTimeNetClassifier": PretrainingFormat(
        "vlmtsc_crosstimenet.json",
        "vlmtsc_crosstimenet_tokenizers.pkl",
        "vlmtsc_crosstimenet_embeddings.npz",
    ),
}
"""Estimator class name -> the files of its ``pretrain()`` artifact."""


def pretraining_method(spec) -> str | None:
    """The estimator whose ``pretrain()`` wrote the folder ``spec``, or None.

    Cheap: only looks for the record files. ``None`` for anything that is not
    such a folder (an alias, a hub id, a callable, a plain model folder).
    """
    if callable(spec):
        return None
    try:
        folder = Path(spec)
    except TypeError:
        return None
    for method, files in PRETRAINING_FORMATS.items():
        if (folder / files.record).is_file():
            return method
    return None


def read_pretraining(spec, method: str) -> dict | None:
    """The record of a ``pretrain()`` artifact folder, with its contents loaded.

    Parameters
    ----------
    spec : str, path-like or callable
        A backbone spec.
    method : str
        The estimator that reads it, a key of :data:`PRETRAINING_FORMATS`.

    Returns
    -------
    dict or None
        ``None`` when ``spec`` is not an artifact folder. Otherwise the JSON
        record with ``"tokenizers"`` (domain -> fitted VQTokenizer) and, where
        the format has them, ``"arrays"`` (the ``.npz`` contents) added.

    Raises
    ------
    ValueError
        When the folder was written by another estimator's ``pretrain()``.

    Notes
    -----
    The tokenizers are unpickled: only read folders you trust.
    """
    written_by = pretraining_method(spec)
    if written_by is None:
        return None
    if written_by != method:
        raise ValueError(
            f"backbone={spec!r} is a {written_by}.pretrain() folder; {method} "
            f"reads folders written by {method}.pretrain(). Pass the base "
            "backbone instead, or pre-train with "
            f"{method}.pretrain()."
        )
    files = PRETRAINING_FORMATS[method]
    folder = Path(spec)
    record = json.loads((folder / files.record).read_text())
    with open(folder / files.tokenizers, "rb") as f:
        record["tokenizers"] = pickle.load(f)
    if files.arrays is not None:
        with np.load(folder / files.arrays, allow_pickle=False) as arrays:
            record["arrays"] = {k: arrays[k] for k in arrays.files}
    return record


def write_pretraining(
    path,
    method: str,
    *,
    model,
    tokenizer,
    record: dict,
    tokenizers: dict,
    arrays: dict | None = None,
) -> Path:
    """Write a ``pretrain()`` artifact folder that :func:`read_pretraining` reads.

    Parameters
    ----------
    path : str or path-like
        The folder (created; existing files are overwritten).
    method : str
        The estimator writing it, a key of :data:`PRETRAINING_FORMATS`.
    model : transformers.PreTrainedModel
        Saved with ``save_pretrained``: the folder loads as a backbone.
    tokenizer : transformers tokenizer
        The model's text tokenizer, saved beside it.
    record : dict
        JSON-serialisable record (domains, descriptions, history...).
    tokenizers : dict
        Domain -> fitted VQ tokenizer (pickled).
    arrays : dict of ndarray, optional
        Required by formats with an ``arrays`` file.

    Returns
    -------
    pathlib.Path
    """
    files = PRETRAINING_FORMATS[method]
    if (arrays is None) != (files.arrays is None):
        raise ValueError(
            f"A {method} artifact {'needs' if files.arrays else 'has no'} arrays."
        )
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    if files.arrays is not None:
        np.savez(path / files.arrays, **arrays)
    with open(path / files.tokenizers, "wb") as f:
        pickle.dump(tokenizers, f)
    # The record last: it marks a complete folder.
    (path / files.record).write_text(json.dumps(record, indent=2) + "\n")
    return path
