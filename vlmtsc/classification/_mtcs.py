"""MTCSClassifier: one dilated-CNN encoder shared by many datasets (seed 003).

Multi-Task Classifier Sharing trains a TS2Vec-style encoder on several
classification tasks at once, with one linear head per task. Heads of different
tasks have disjoint label spaces; MTCS pulls the weight rows of labels that the
data says are related towards each other (soft weight sharing). A classifier
on the frozen representations (a standardised logistic regression by default,
the paper's SVM as an option) is each task's final classifier.

torch is imported only when a network is built, so importing this module stays
cheap (``import vlmtsc`` must not load torch).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Mapping
from dataclasses import replace
from numbers import Integral, Real
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
from scipy.special import softmax
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import LabelEncoder
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from vlmtsc.base import check_datasets, n_channels_of, series_lengths
from vlmtsc.classification._base import EPOCHS_OR_AUTO, TRAINING_PARAMETERS
from vlmtsc.classification._torch_base import BaseNetworkClassifier, take
from vlmtsc.training import (
    SeriesNormalizer,
    epochs_within,
    fit_probe,
    probe_log_proba,
    seed_everything,
    train_with_validation,
    validation_score,
    validation_splits,
)

__all__ = ["MTCSClassifier"]

TARGET = "target"
CLASSIFIERS = ("logistic", "svm", "linear")
# TS2Vec's SVM protocol: C from 1e-4 .. 1e4 by 5-fold CV when data allows, else
# a hard margin (C = inf).
SVM_C_GRID = tuple(10.0**k for k in range(-4, 5))
SVM_CV_FOLDS = 5
SVM_DEFAULT_C = np.inf
#: ``n_epochs="auto"``: 80 epochs, fewer when they would read more than
#: ``AUTO_TIMEPOINTS`` timepoints (channels x steps) of one task, so that a
#: training run's cost is bounded on long series (the MTCS guide's protocol).
#: In a joint fit the largest task counts.
AUTO_EPOCHS = 80
AUTO_TIMEPOINTS = 2_000_000


# --------------------------------------------------------------------------- network
@functools.cache
def _torch_modules() -> SimpleNamespace:
    """The torch classes, defined on first use so torch loads lazily."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class SamePadConv(nn.Module):
        """Dilated 1D convolution whose output has the input's length."""

        def __init__(self, in_channels, out_channels, kernel_size, dilation):
            super().__init__()
            receptive_field = (kernel_size - 1) * dilation + 1
            self.conv = nn.Conv1d(
                in_channels,
                out_channels,
                kernel_size,
                padding=receptive_field // 2,
                dilation=dilation,
            )
            # An even receptive field pads one step too many (as in TS2Vec).
            self.remove = 1 if receptive_field % 2 == 0 else 0

        def forward(self, x):
            out = self.conv(x)
            return out[:, :, : -self.remove] if self.remove else out

    class ConvBlock(nn.Module):
        """TS2Vec's residual block: GELU -> conv -> GELU -> conv, plus the input.

        With a ``mask`` (padding of unequal lengths) every padded step is zeroed
        before each convolution, so a padded series gets exactly the
        representation it gets alone.
        """

        def __init__(self, in_channels, out_channels, kernel_size, dilation, final):
            super().__init__()
            self.conv1 = SamePadConv(in_channels, out_channels, kernel_size, dilation)
            self.conv2 = SamePadConv(out_channels, out_channels, kernel_size, dilation)
            self.projector = (
                nn.Conv1d(in_channels, out_channels, 1)
                if in_channels != out_channels or final
                else None
            )

        def forward(self, x, mask):
            residual = x if self.projector is None else self.projector(x)
            x = self.conv1(F.gelu(x))
            if mask is not None:
                x = x * mask
            x = self.conv2(F.gelu(x)) + residual
            return x if mask is None else x * mask

    class MTCSNetwork(nn.Module):
        """Per-task input projections, a shared dilated-CNN trunk, per-task heads.

        Task ``i`` is stored under the key ``"t{i}"`` (task names may be any
        hashable, module keys must be identifier-like strings).
        """

        def __init__(
            self,
            task_channels,
            task_classes,
            n_blocks,
            hidden_size,
            representation_size,
            kernel_size,
            dropout,
            alpha,
            tau,
        ):
            super().__init__()
            self.config = dict(
                task_channels=list(task_channels),
                task_classes=list(task_classes),
                n_blocks=n_blocks,
                hidden_size=hidden_size,
                representation_size=representation_size,
                kernel_size=kernel_size,
                dropout=dropout,
                alpha=alpha,
                tau=tau,
            )
            self.alpha, self.tau = alpha, tau
            n_tasks = len(task_channels)
            self.keys = [f"t{i}" for i in range(n_tasks)]
            self.projections = nn.ModuleDict(
                {
                    key: nn.Conv1d(channels, hidden_size, 1)
                    for key, channels in zip(self.keys, task_channels, strict=True)
                }
            )
            widths = [hidden_size] * n_blocks + [representation_size]
            self.blocks = nn.ModuleList(
                ConvBlock(
                    widths[i],
                    widths[i + 1],
                    kernel_size,
                    dilation=2**i,
                    final=i == n_blocks - 1,
                )
                for i in range(n_blocks)
            )
            self.dropout = nn.Dropout(dropout)
            self.heads = nn.ModuleDict(
                {
                    key: nn.Linear(representation_size, n_classes)
                    for key, n_classes in zip(self.keys, task_classes, strict=True)
                }
            )
            self.reset_statistics()

        def reset_statistics(self):
            """Zero the affinity sums (whole run) and the loss sums (one epoch)."""
            self.affinity_sum = {}
            self.affinity_batches = {}
            self.reset_epoch_statistics()

        def reset_epoch_statistics(self):
            self.epoch_sums = {"ce_loss": 0.0, "sharing_loss": 0.0, "n_related": 0}
            self.epoch_batches = 0

        def encode(self, x, task, mask=None):
            """``(batch, channels, time)`` -> ``(batch, representation_size)``."""
            if mask is not None:
                mask = mask[:, None, :].to(x.dtype)
            x = self.projections[self.keys[task]](x)
            if mask is not None:
                x = x * mask
            for block in self.blocks:
                x = block(x, mask)
            if mask is not None:
                x = x.masked_fill(mask == 0, -math.inf)
            return x.amax(dim=-1)

        def head_logits(self, representation, task):
            return self.heads[self.keys[task]](representation)

        def forward(self, x, labels, task, mask=None):
            task = int(task)
            representation = self.dropout(self.encode(x, task, mask))
            logits = self.head_logits(representation, task)
            ce = F.cross_entropy(logits, labels)
            sharing = logits.new_zeros(())
            n_related = 0
            # Eq. 6 sums the sharing loss over every pair of tasks. A batch holds
            # series of one task only, so this batch estimates, on its task's
            # series, the affinity with every other task; heads are tiny next
            # to the encoder, so all partners cost little. Each partner's
            # batches estimate the other direction.
            own = self.heads[self.keys[task]].weight  # (N, D): row q = label q
            with torch.no_grad():
                p_own = logits.detach().float().softmax(dim=-1)
            for other in range(len(self.keys)):
                if other == task:
                    continue
                head = self.heads[self.keys[other]]
                with torch.no_grad():
                    p_other = head(representation.detach()).float().softmax(dim=-1)
                    # Eq. 4: mean outer product of the two tasks' label
                    # probabilities on the same series; (N, M), sums to 1.
                    affinity = p_own.T @ p_other / p_own.shape[0]
                    n, m = affinity.shape
                    # Eq. 5: related when tau times above the average pair.
                    related = n * m * affinity / affinity.sum() > self.tau
                if self.training:
                    pair = (task, other)
                    self.affinity_sum[pair] = self.affinity_sum.get(pair, 0) + affinity
                    self.affinity_batches[pair] = self.affinity_batches.get(pair, 0) + 1
                n_related += int(related.sum())
                if self.alpha and related.any():
                    # Eq. 3: squared distance of related rows, over the M*N pairs.
                    distance = (own[:, None, :] - head.weight[None, :, :]).pow(2)
                    sharing = sharing + (distance.sum(-1) * related).sum() / (n * m)
            loss = ce + self.alpha * sharing
            if self.training:
                self.epoch_sums["ce_loss"] += float(ce.detach())
                self.epoch_sums["sharing_loss"] += float(sharing.detach())
                self.epoch_sums["n_related"] += n_related
                self.epoch_batches += 1
            return SimpleNamespace(loss=loss, logits=logits)

    return SimpleNamespace(MTCSNetwork=MTCSNetwork, torch=torch)


def _labelled_datasets(datasets, what: str) -> dict:
    """Validate ``{name: (X, y)}``; returns ``{name: (X, y_int, classes)}``."""
    pairs = {}
    for name, data in datasets.items():
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise ValueError(
                f"{what}[{name!r}] must be a pair (X, y) of series and labels, "
                f"got {type(data).__name__}. Pass {what}={{'name': (X, y), ...}}."
            )
        pairs[name] = tuple(data)
    checked = {}
    for name, (X, y) in check_datasets(
        pairs, check_name=_check_task_name, what=what
    ).items():
        encoder = LabelEncoder().fit(y)
        checked[name] = (X, encoder.transform(y), encoder.classes_)
    return checked


def _check_task_name(name) -> None:
    if not isinstance(name, Hashable):
        raise ValueError(f"Task names must be hashable, got {name!r}.")


def _mutual_information(joint: np.ndarray) -> float:
    """Mutual information (nats) of the two labels under a joint distribution."""
    joint = joint / joint.sum()
    outer = joint.sum(axis=1, keepdims=True) @ joint.sum(axis=0, keepdims=True)
    positive = joint > 0
    return float((joint[positive] * np.log(joint[positive] / outer[positive])).sum())


# --------------------------------------------------------------------------- estimator
class MTCSClassifier(BaseNetworkClassifier):
    """Multi-task classifier sharing: one encoder for many time-series datasets.

    The method of seed 003. A TS2Vec-style encoder (a per-task input projection
    to ``hidden_size`` channels, ``n_blocks`` residual dilated-convolution blocks
    with dilation ``2**l``, kernel 3 and GELU, the last one widening to
    ``representation_size``, then a max-pool over time) is shared by every task
    and trained end to end with one linear head per task. Each batch holds the
    series of one task; on it, every other task's head also predicts, and the
    label-affinity matrix ``A`` (the mean outer product of the two tasks' label
    probabilities) marks labels ``p, q`` as related when
    ``M * N * A[p, q] / sum(A) > tau``. The loss is the cross-entropy plus
    ``alpha`` times the squared distance between the head weight rows of related
    labels, averaged over the ``M * N`` label pairs. After training the encoder
    is frozen and a classifier on its representations is each task's final one
    (``classifier``: the probe's standardised logistic regression by default,
    the paper's RBF SVM as an option).

    Two ways in:

    - ``fit(X, y)`` with ``related_datasets={"name": (X_r, y_r), ...}``: the
      target task is ``(X, y)`` (task name ``"target"``), the related datasets
      only help train the encoder. ``predict``, ``cross_val_score`` and
      ``GridSearchCV`` work on the target as for any classifier. Without related
      datasets this is single-task training.
    - ``fit_tasks({"name": (X, y), ...})`` trains all tasks jointly; then
      ``predict(X, task="name")``, ``predict_proba`` and ``transform`` take the
      task's name.

    Tasks may differ in length and number of channels, and series of one task may
    differ in length (padded per batch and masked, so padding never changes a
    representation; nothing is truncated). Each task's series are scaled with
    its own training statistics (``normalization``).

    Parameters
    ----------
    related_datasets : dict of {str: (X, y)} or None, default=None
        Datasets trained jointly with the target task of ``fit``; each ``X`` in
        any accepted series format, each ``y`` with at least 2 classes. Stored as
        given (so ``clone`` copies it).
    n_blocks : int, default=10
        Residual dilated-convolution blocks; block ``l`` has dilation ``2**l``.
        The seed paper's ``L = 10``.
    hidden_size : int, default=64
        Channels of the input projection and of the blocks.
    representation_size : int, default=320
        Channels of the last block, so the size of the representation.
    kernel_size : int, default=3
        Convolution kernel size.
    dropout : float, default=0.1
        Dropout on the representation during training (TS2Vec's default).
    alpha : float, default=0.1
        Weight of the classifier-sharing loss; ``0`` is multi-task learning with
        a shared encoder but no classifier sharing.
    tau : float, default=2.0
        Labels are related when their affinity is ``tau`` times the average.
    classifier : {"logistic", "svm", "linear"}, default="logistic"
        Final classifier of each task, on the frozen representations:
        ``"logistic"``, the linear probe's head (``StandardScaler`` then
        ``LogisticRegression``, its strength chosen by stratified k-fold on the
        training representations, :func:`vlmtsc.training.fit_probe`; chosen by
        the protocol in the MTCS guide); ``"svm"``, an RBF SVM (the paper's
        TS2Vec protocol); ``"linear"``, the trained linear head.
    svm_C : float or None, default=None
        SVM regularisation (``classifier="svm"``). ``None`` picks ``C`` from
        ``1e-4 .. 1e4`` by 5-fold stratified cross-validation on the training
        representations when every class of the task has at least 5 cases, and
        takes a hard margin (``C=inf``, as TS2Vec does) otherwise.
    normalization : {"global", "per_channel", "across_channels", None}, \
default="global"
        How each task's series are scaled (``normalizers_``, one
        :class:`vlmtsc.training.SeriesNormalizer` per task). ``"global"``: by the
        task's per-channel training mean and standard deviation (TS2Vec's
        z-scoring; amplitudes stay comparable).
    augmentation : SeriesAugmenter, optional
        Every epoch also shows ``n_copies`` freshly jittered/scaled/window-sliced
        copies of each (normalised) training series (see
        :class:`vlmtsc.training.SeriesAugmenter`).
    n_epochs : int or "auto", default="auto"
        Maximum passes over all tasks' training series. ``"auto"``: 80, fewer
        when a training run would read more than ``AUTO_TIMEPOINTS`` (2
        million) timepoints of one task, channels x steps of every series it
        trains on, augmented copies included (``n_epochs_``; of the bundled
        sets ACSF1 gets 18, PigCVP 20, OSULeaf 30, JapaneseVowels 49, the
        others 80). In ``fit_tasks`` the largest task counts, so tasks trained
        together get the epochs the largest would get alone. An epoch's cost
        grows with its timepoints; on more series, fewer epochs still make as
        many optimiser steps. The paper trained 5 epochs on sets of thousands
        of series; the protocols in the MTCS guide chose the rule.
    batch_size : int, default=32
        Series per batch; a batch holds one task.
    learning_rate : float, default=1e-3
        Peak learning rate of AdamW.
    weight_decay : float, default=0.01
        AdamW weight decay.
    warmup_ratio : float, default=0.05
        Share of the steps spent warming the learning rate up (then cosine decay).
    validation_fraction : float, default=0.2
        Stratified share of the training data held out to choose the epoch: of
        the target task in ``fit``, of every task in ``fit_tasks`` (the score is
        the mean over tasks). Classes too small to split follow the rule of
        :func:`vlmtsc.training.validation_splits` (with a warning). ``0`` trains
        ``n_epochs`` without validation.
    validation_folds : int, optional
        Choose the epoch count by stratified k-fold of the scored tasks instead.
    patience : int, optional
        Early stopping: end the validation run after this many epochs without
        a better validation score (the best epoch is kept either way).
        ``None`` trains all ``n_epochs``. k-fold selection
        (``validation_folds``) always trains every epoch, so that the folds'
        curves can be averaged.
    refit : bool, default=True
        After choosing the epoch count on validation, train again from the same
        initialisation on all training data for that many epochs.
    mixed_precision : {"auto", "bf16", "no"}, default="auto"
        bfloat16 autocast of the training steps where the device runs it natively.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    random_state : int, RandomState instance or None, default=0
        Seeds the initialisation, the splits and the batch order; an int makes
        CPU runs reproducible.
    verbose : int, default=1
        ``0`` silences the progress bar.

    Attributes
    ----------
    classes_ : ndarray
        Classes of the target task (``fit`` only).
    n_channels_ : int
        Channels of the target task (``fit`` only).
    n_timepoints_ : int or None
        Length of the target task's series, ``None`` if unequal (``fit`` only).
    normalizers_ : dict
        Task name -> the task's fitted :class:`~vlmtsc.training.SeriesNormalizer`.
    tasks_ : dict
        Task name -> ``{"classes", "n_cases", "n_channels", "n_timepoints"}`` in
        training order (the target first in ``fit``); ``list(tasks_)`` are the
        names.
    target_task_ : hashable or None
        The task ``predict`` uses without ``task=``: ``"target"`` after ``fit``,
        the only task after a one-task ``fit_tasks``, else ``None``.
    model_ : torch.nn.Module
        The trained network (encoder and heads).
    classifiers_ : dict
        Task name -> final classifier on the representations (``None`` for
        ``classifier="linear"``).
    affinity_ : dict
        What the heads learnt about each other, from the running mean of the
        per-batch affinity over the final training run:

        - ``"tasks"``: list of task names;
        - ``"labels"``: list of ``(task, class)`` pairs, every task's classes in
          order;
        - ``"label_matrix"``: ndarray ``(n_labels, n_labels)``; the block of rows
          of task ``k`` and columns of task ``j`` is ``M * N * A / sum(A)`` with
          ``A`` the mean affinity measured on batches of task ``k`` (1 = no
          relation, above ``tau`` = related); blocks of a task with itself are
          NaN;
        - ``"related"``: boolean ndarray, ``label_matrix > tau``;
        - ``"task_matrix"``: ndarray ``(n_tasks, n_tasks)``, symmetric: the
          mutual information (nats) between the two tasks' predicted labels under
          the mean affinity (averaged over both directions); 0 = unrelated,
          diagonal NaN. :meth:`plot_affinity` draws it.
    history_ : list of dict
        Per epoch: ``phase`` (``"validation"``, ``"refit"`` or ``"train"``),
        ``epoch``, ``loss``, ``ce_loss``, ``sharing_loss`` (mean per batch),
        ``n_related`` (related label pairs per batch), ``validation_score``,
        ``learning_rate``, ``seconds``.
    n_epochs_ : int
        The training epochs at most (``n_epochs``, ``"auto"`` resolved for the
        validation run's training cases).
    best_epoch_ : int
        Epochs the final encoder was trained for.
    device_ : str
        Device the network lives on.

    See Also
    --------
    vlmtsc.VLMTimeSeriesClassifier : a vision-language model on rendered series.

    Notes
    -----
    ``predict_proba`` of the SVM is the softmax of its one-vs-rest decision
    values (a sigmoid for two classes): its argmax is the SVM's decision, but it
    is not calibrated; the logistic regression's (the default) and the linear
    head's are probabilities.

    ``n_blocks`` counts every block; TS2Vec's ``depth=10`` has one more (its
    last block only widens to the output size).

    ``explain(X, method="gradient")`` is gradient x input: the gradient of the
    target class's log-probability, as ``predict_proba`` computes it (the
    logistic regression as one linear map, the SVM's decision function rebuilt
    in torch, or the linear head's logits), with
    respect to the normalised series the encoder reads, times that series, per
    channel and step (padding of unequal lengths cropped). Signed: positive
    steps raise the class's probability relative to a zero (mean-level)
    series, negative ones lower it. The max-pool over time passes gradient
    only to the steps that win it, so the attributions are sparse. One backward
    pass per batch of 16 series.

    References
    ----------
    .. [1] "Multi-Task Learning for Time-Series Classification via Classifier
       Sharing" (MTCS, seed 003).
    .. [2] Yue et al., "TS2Vec: Towards Universal Representation of Time
       Series", AAAI 2022.

    Examples
    --------
    >>> from vlmtsc.classification import MTCSClassifier
    >>> from vlmtsc.testing import make_example_series
    >>> X, y = make_example_series(n_cases=12, n_timepoints=30)
    >>> X_r, y_r = make_example_series(n_cases=12, n_timepoints=40, n_classes=3,
    ...                                random_state=1)
    >>> clf = MTCSClassifier(related_datasets={"other": (X_r, y_r)}, n_blocks=2,
    ...     hidden_size=8, representation_size=16, n_epochs=2, verbose=0)
    >>> clf.fit(X, y).predict_proba(X[:2]).shape
    (2, 2)
    >>> list(clf.tasks_)
    ['target', 'other']
    >>> clf.affinity_["task_matrix"].shape
    (2, 2)

    Joint training over several tasks:

    >>> clf = MTCSClassifier(n_blocks=2, hidden_size=8, representation_size=16,
    ...     n_epochs=2, verbose=0)
    >>> clf = clf.fit_tasks({"a": (X, y), "b": (X_r, y_r)})
    >>> clf.predict(X_r[:3], task="b").shape
    (3,)
    >>> clf.transform(X[:3], task="a").shape
    (3, 16)
    """

    _parameter_constraints: ClassVar[dict] = {
        **TRAINING_PARAMETERS,
        "related_datasets": [Mapping, None],
        "n_blocks": [Interval(Integral, 1, None, closed="left")],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "representation_size": [Interval(Integral, 1, None, closed="left")],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "tau": [Interval(Real, 0, None, closed="neither")],
        "classifier": [StrOptions(set(CLASSIFIERS))],
        "svm_C": [Interval(Real, 0, None, closed="neither"), None],
        "n_epochs": EPOCHS_OR_AUTO,
    }

    def __init__(
        self,
        related_datasets=None,
        n_blocks=10,
        hidden_size=64,
        representation_size=320,
        kernel_size=3,
        dropout=0.1,
        alpha=0.1,
        tau=2.0,
        classifier="logistic",
        svm_C=None,
        normalization="global",
        augmentation=None,
        n_epochs="auto",
        batch_size=32,
        learning_rate=1e-3,
        weight_decay=0.01,
        warmup_ratio=0.05,
        validation_fraction=0.2,
        validation_folds=None,
        patience=None,
        refit=True,
        mixed_precision="auto",
        device="auto",
        random_state=0,
        verbose=1,
    ):
        self.related_datasets = related_datasets
        self.n_blocks = n_blocks
        self.hidden_size = hidden_size
        self.representation_size = representation_size
        self.kernel_size = kernel_size
        self.dropout = dropout
        self.alpha = alpha
        self.tau = tau
        self.classifier = classifier
        self.svm_C = svm_C
        self.normalization = normalization
        self.augmentation = augmentation
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.validation_fraction = validation_fraction
        self.validation_folds = validation_folds
        self.patience = patience
        self.refit = refit
        self.mixed_precision = mixed_precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- fitting
    def _fit_recipe(self, X, y, config, seed):
        related = self._related_datasets()
        if TARGET in related:
            raise ValueError(
                f"related_datasets has a dataset named {TARGET!r}, the name "
                "MTCSClassifier gives the task of fit(X, y); rename it."
            )
        self._fit_tasks(
            {TARGET: (X, y, self.classes_), **related}, TARGET, config, seed
        )

    def fit_tasks(self, tasks):
        """Train jointly on several tasks (datasets).

        Parameters
        ----------
        tasks : dict of {str: (X, y)}
            Every task's training series (any accepted format; tasks may differ
            in length and channels) and labels (at least 2 classes each).
            ``related_datasets``, if set, are added as further tasks.

        Returns
        -------
        self
        """
        name = type(self).__name__
        if not isinstance(tasks, Mapping) or not tasks:
            raise ValueError(
                f"{name}.fit_tasks expects a non-empty dict {{task name: (X, y)}}, "
                f"got {type(tasks).__name__}. Pass e.g. fit_tasks({{'GunPoint': "
                "(X, y), 'Coffee': (X2, y2)}})."
            )
        checked = _labelled_datasets(tasks, "tasks")
        related = self._related_datasets()
        clash = sorted(set(checked) & set(related), key=str)
        if clash:
            raise ValueError(
                f"Tasks {clash!r} are both in fit_tasks(tasks) and in "
                "related_datasets; give each dataset once."
            )
        config, seed = self._begin_fit()
        for attribute in (
            "classes_",
            "n_channels_",
            "n_timepoints_",
            "_label_encoder",
            "normalizer_",
        ):
            self.__dict__.pop(attribute, None)  # the target-task view of fit
        self._fit_tasks({**checked, **related}, None, config, seed)
        return self

    def _related_datasets(self) -> dict:
        if self.related_datasets is None:
            return {}
        return _labelled_datasets(self.related_datasets, "related_datasets")

    def _fit_tasks(self, tasks: dict, target, config, seed) -> None:
        """Train the encoder on every task, then each task's final classifier."""
        names = list(tasks)
        self.tasks_, self.normalizers_, inputs, labels = {}, {}, [], []
        for name, (X, y, classes) in tasks.items():
            lengths = series_lengths(X)
            self.tasks_[name] = {
                "classes": classes,
                "n_cases": len(y),
                "n_channels": n_channels_of(X),
                "n_timepoints": int(lengths[0])
                if (lengths == lengths[0]).all()
                else None,
            }
            self.normalizers_[name] = SeriesNormalizer(self.normalization).fit(X)
            inputs.append(self._inputs(self.normalizers_[name].transform(X)))
            labels.append(np.asarray(y))
        self.target_task_ = target if target is not None or len(names) > 1 else names[0]
        # Which tasks hold out validation data: only the target in fit (the
        # related data all trains the encoder), every task in fit_tasks.
        everything = [np.arange(len(y)) for y in labels]
        splits = self._task_splits(names, labels, target, seed)
        self.n_epochs_ = self._epochs(inputs, splits[0][0] if splits else everything)
        config = replace(config, n_epochs=self.n_epochs_)

        seed_everything(seed)
        network = (
            _torch_modules()
            .MTCSNetwork(
                task_channels=[info["n_channels"] for info in self.tasks_.values()],
                task_classes=[len(info["classes"]) for info in self.tasks_.values()],
                n_blocks=int(self.n_blocks),
                hidden_size=int(self.hidden_size),
                representation_size=int(self.representation_size),
                kernel_size=int(self.kernel_size),
                dropout=float(self.dropout),
                alpha=float(self.alpha),
                tau=float(self.tau),
            )
            .to(self.device_)
        )

        def run(fit, validation, config, phase):
            evaluate = None
            if validation is not None:

                def evaluate(model):
                    return float(
                        np.mean(
                            [
                                validation_score(
                                    self._infer(model, take(inputs[i], chosen), task=i),
                                    labels[i][chosen],
                                )
                                for i, chosen in validation.items()
                            ]
                        )
                    )

            return self._train_tasks(
                network, inputs, labels, fit, config, evaluate, seed, phase
            )

        restore = self._restorer(network)

        def reset():
            restore()
            network.reset_statistics()

        self.history_, self.best_epoch_ = train_with_validation(
            run, splits, everything, config, refit=self.refit, reset=reset
        )
        network.eval()
        self.model_ = network
        self.affinity_ = self._affinity(network, names)
        network.reset_statistics()
        self.classifiers_ = {}
        for i, name in enumerate(names):
            if self.classifier == "linear":
                self.classifiers_[name] = None
                continue
            representation = self._infer(network, inputs[i], "representation", task=i)
            self.classifiers_[name] = (
                fit_probe(representation, labels[i], seed)
                if self.classifier == "logistic"
                else self._fit_svm(representation, labels[i], seed)
            )

    def _epochs(self, inputs, index) -> int:
        """``n_epochs``, or ``"auto"``'s choice for a training run on the cases
        ``index`` (one array per task) of ``inputs``: the budget bounds the
        timepoints of the largest task's cases."""
        if self.n_epochs != "auto":
            return int(self.n_epochs)
        passes = 1 + (self.augmentation.n_copies if self.augmentation else 0)
        per_epoch = passes * max(
            n_channels_of(inputs[i]) * series_lengths(inputs[i])[part].sum()
            for i, part in enumerate(index)
        )
        return epochs_within(AUTO_TIMEPOINTS, per_epoch, AUTO_EPOCHS)

    def _task_splits(self, names, labels, target, seed) -> list:
        """The validation plan over tasks: ``(fit, validation)`` pairs where
        ``fit`` lists every task's training cases and ``validation`` maps the
        scored tasks to their held-out cases."""
        scored = [i for i, name in enumerate(names) if target in (None, name)]
        per_task = {
            i: self._validation_splits(labels[i], seed, what=f"task {names[i]!r}")
            for i in scored
        }
        per_task = {i: splits for i, splits in per_task.items() if splits}
        if not per_task:
            return []
        n_pairs = min(len(splits) for splits in per_task.values())
        if any(len(splits) != n_pairs for splits in per_task.values()):
            # k-fold over tasks needs one k: the smallest any task allows.
            per_task = {
                i: validation_splits(
                    labels[i], 0, n_pairs, random_state=seed, what=names[i]
                )
                for i in per_task
            }
        return [
            (
                [
                    per_task[i][k][0] if i in per_task else np.arange(len(y))
                    for i, y in enumerate(labels)
                ],
                {i: per_task[i][k][1] for i in per_task},
            )
            for k in range(n_pairs)
        ]

    def _train_tasks(
        self, network, inputs, labels, index, config, evaluate, seed, phase
    ):
        """One training run on the cases ``index`` (one array per task), every
        batch from one task; ``(history, best_epoch)``."""
        torch = _torch_modules().torch
        augmenter = clone(self.augmentation) if self.augmentation else None
        # Every epoch: each case once as it is and n_copies times freshly varied.
        passes = 1 + (augmenter.n_copies if augmenter is not None else 0)
        size = config.batch_size
        n_batches = passes * sum(math.ceil(len(part) / size) for part in index)
        epoch_statistics = []

        def batches(rng):
            # Shuffle within each task, then the order of the one-task batches.
            order = []
            for task, part in enumerate(index):
                for varied in range(passes):
                    shuffled = rng.permutation(part)
                    order += [
                        (task, shuffled[start : start + size], varied > 0)
                        for start in range(0, len(shuffled), size)
                    ]
            network.reset_epoch_statistics()
            for k in rng.permutation(len(order)):
                task, chunk, varied = order[k]
                series = take(inputs[task], chunk)
                if varied:
                    series = augmenter.augment(series, rng)
                batch = self._collate(series, task=task)
                batch["labels"] = torch.from_numpy(labels[task][chunk]).long()
                yield batch
            n = max(network.epoch_batches, 1)
            epoch_statistics.append(
                {key: value / n for key, value in network.epoch_sums.items()}
            )

        history, best_epoch = self._train(
            network, batches, n_batches, config, evaluate, seed, phase
        )
        # Tokens mean nothing here; the sharing statistics are added per epoch.
        history = [
            {k: v for k, v in entry.items() if k != "tokens"} | stats
            for entry, stats in zip(history, epoch_statistics, strict=False)
        ]
        return history, best_epoch

    def _fit_svm(self, representation, y, seed):
        """TS2Vec's protocol: RBF SVM, C by 5-fold CV when every class allows."""
        svm = SVC(kernel="rbf", gamma="scale", random_state=seed)
        if self.svm_C is not None:
            svm.set_params(C=self.svm_C)
        elif np.bincount(y).min() >= SVM_CV_FOLDS:
            search = GridSearchCV(
                svm,
                {"C": list(SVM_C_GRID)},
                cv=StratifiedKFold(SVM_CV_FOLDS),
            )
            return search.fit(representation, y).best_estimator_
        else:
            svm.set_params(C=SVM_DEFAULT_C)
        return svm.fit(representation, y)

    def _affinity(self, model, names) -> dict:
        n_classes = [len(self.tasks_[name]["classes"]) for name in names]
        offsets = np.concatenate([[0], np.cumsum(n_classes)])
        labels = [
            (name, label)
            for name in names
            for label in self.tasks_[name]["classes"].tolist()
        ]
        matrix = np.full((len(labels), len(labels)), np.nan)
        joint = {}
        for (k, j), total in model.affinity_sum.items():
            mean = (total / model.affinity_batches[(k, j)]).double().cpu().numpy()
            joint[k, j] = mean / mean.sum()
            matrix[offsets[k] : offsets[k + 1], offsets[j] : offsets[j + 1]] = (
                mean.size * joint[k, j]
            )
        tasks = np.full((len(names), len(names)), np.nan)
        for k in range(len(names)):
            for j in range(k + 1, len(names)):
                both = [
                    _mutual_information(a)
                    for a in (joint.get((k, j)), _transpose(joint.get((j, k))))
                    if a is not None
                ]
                if both:
                    tasks[k, j] = tasks[j, k] = float(np.mean(both))
        with np.errstate(invalid="ignore"):
            related = np.nan_to_num(matrix, nan=0.0) > self.tau
        return {
            "tasks": list(names),
            "labels": labels,
            "label_matrix": matrix,
            "related": related,
            "task_matrix": tasks,
        }

    # ----------------------------------------------------------------- hooks
    @property
    def _inference_batch_size(self):
        # No gradients: batches can be larger than in training.
        return max(4 * self.batch_size, 64)

    def _task(self, task):
        """The task ``task`` names (default: the target task) and its position."""
        check_is_fitted(self, "tasks_")
        if task is None:
            if self.target_task_ is None:
                raise ValueError(
                    f"{type(self).__name__} was fitted on several tasks with "
                    f"fit_tasks; say which with task=, one of {list(self.tasks_)!r}."
                )
            task = self.target_task_
        if not isinstance(task, Hashable) or task not in self.tasks_:
            raise ValueError(
                f"Unknown task {task!r}; {type(self).__name__} was fitted on the "
                f"tasks {list(self.tasks_)!r}. Pass one of them as task=."
            )
        return task, list(self.tasks_).index(task)

    def _fitted_input(self, task=None):
        name, _ = self._task(task)
        info = self.tasks_[name]
        return info["n_channels"], info["n_timepoints"], info["classes"]

    def _inputs(self, X):
        """Normalised series as float32 (an array, or a list for unequal lengths)."""
        if isinstance(X, np.ndarray):
            return X.astype(np.float32)
        return [x.astype(np.float32) for x in X]

    def _input_lengths(self, inputs):
        return None if isinstance(inputs, np.ndarray) else series_lengths(inputs)

    def _collate(self, inputs, task):
        """``x`` (zero-padded to the longest), ``task`` (a position) and, when
        lengths differ, ``mask``."""
        torch = _torch_modules().torch
        if isinstance(inputs, np.ndarray):
            return {"x": torch.from_numpy(inputs.astype(np.float32)), "task": task}
        lengths = series_lengths(inputs)
        longest = int(lengths.max())
        x = np.zeros((len(inputs), inputs[0].shape[0], longest), dtype=np.float32)
        for row, case in enumerate(inputs):
            x[row, :, : case.shape[1]] = case
        batch = {"x": torch.from_numpy(x), "task": task}
        if not (lengths == longest).all():
            mask = np.arange(longest)[None, :] < lengths[:, None]
            batch["mask"] = torch.from_numpy(mask)
        return batch

    def _output(self, network, batch, what):
        representation = network.encode(batch["x"], batch["task"], batch.get("mask"))
        if what == "logits":
            return network.head_logits(representation, batch["task"])
        return representation

    def _network_config(self, network):
        return network.config

    def _rebuild_network(self, saved):
        network = _torch_modules().MTCSNetwork(**saved["config"])
        network.load_state_dict(saved["weights"])
        return network

    # ----------------------------------------------------------------- inference
    def _task_inputs(self, X, task):
        """Normalised inputs of one task's (checked) series; ``(inputs, name,
        position)``."""
        name, position = self._task(task)
        return self._inputs(self.normalizers_[name].transform(X)), name, position

    def _transform(self, X, task=None):
        inputs, _, position = self._task_inputs(X, task)
        return self._infer(self.model_, inputs, "representation", task=position)

    # ----------------------------------------------------------------- explaining
    def _log_probabilities(self, network, batch):
        """What :meth:`predict_proba` computes, in torch: ``log_softmax`` of the
        logistic regression's or the linear head's logits, or of the SVM's
        decision function."""
        torch = _torch_modules().torch
        position = batch["task"]
        representation = network.encode(batch["x"], position, batch.get("mask"))
        name = list(self.tasks_)[position]
        final = self.classifiers_[name]
        if final is None:
            scores = network.head_logits(representation, position)
        elif isinstance(final, SVC):
            scores = _svm_decision(final, representation.double())
        else:
            n_classes = len(self.tasks_[name]["classes"])
            return probe_log_proba(final, representation, n_classes).float()
        return torch.log_softmax(scores.float(), dim=-1)

    def _gradient_attributions(self, X, targets, task=None):
        """Gradient x input of the target class's log-probability with respect
        to the normalised series (padding cropped)."""
        inputs, _, position = self._task_inputs(X, task)
        rows = self._gradient_x_input(inputs, targets, key="x", task=position)
        return [row[:, :n] for row, n in zip(rows, series_lengths(X), strict=True)]

    def _predict_proba(self, X, task=None):
        inputs, name, position = self._task_inputs(X, task)
        final = self.classifiers_[name]
        if final is None:
            logits = self._infer(self.model_, inputs, task=position)
            return softmax(logits.astype(np.float64), axis=1)
        representation = self._infer(
            self.model_, inputs, "representation", task=position
        )
        if not isinstance(final, SVC):
            # float32 like the representations it reads (whose batch-to-batch
            # float32 noise the scaler can magnify), whichever dtype the
            # installed scikit-learn computes in.
            return final.predict_proba(representation).astype(np.float32)
        decision = final.decision_function(representation)
        if decision.ndim == 1:  # two classes: the score of the second
            decision = np.column_stack([-decision, decision]) / 2
        return softmax(np.asarray(decision, dtype=np.float64), axis=1)

    # ----------------------------------------------------------------- plotting
    def plot_affinity(self, ax=None, level="task", cmap="Blues"):
        """Heatmap of the learnt affinity (the seed's Figure 2).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure's Axes by default.
        level : {"task", "label"}, default="task"
            ``"task"``: mutual information between tasks' predicted labels
            (``affinity_["task_matrix"]``); ``"label"``: the label-pair relevance
            ``M * N * A / sum(A)`` (``affinity_["label_matrix"]``).
        cmap : str, default="Blues"
            Colour map; darker is more related.

        Returns
        -------
        ax : matplotlib Axes
        """
        check_is_fitted(self, "affinity_")
        import matplotlib.pyplot as plt

        if level == "task":
            matrix = self.affinity_["task_matrix"]
            names = [str(t) for t in self.affinity_["tasks"]]
            title, label = "Task affinity", "mutual information (nats)"
        elif level == "label":
            matrix = self.affinity_["label_matrix"]
            names = [f"{t}:{c}" for t, c in self.affinity_["labels"]]
            title, label = f"Label affinity (related > tau={self.tau:g})", "M·N·A/ΣA"
        else:
            raise ValueError(f"level must be 'task' or 'label', got {level!r}.")
        if ax is None:
            _, ax = plt.subplots(figsize=(1 + 0.5 * len(names), 0.8 + 0.5 * len(names)))
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap)
        ax.set_xticks(range(len(names)), names, rotation=90)
        ax.set_yticks(range(len(names)), names)
        ax.set_title(title)
        ax.figure.colorbar(image, ax=ax, label=label)
        return ax


def _svm_decision(svm, representation):
    """``svm.decision_function`` (as :meth:`MTCSClassifier.predict_proba` reads
    it) in torch, differentiable with respect to ``representation``.

    RBF kernel against the support vectors; two classes: ``(-d/2, d/2)``;
    more: scikit-learn's one-vs-rest aggregation of the one-vs-one decisions,
    whose votes are piecewise constant (no gradient) and whose confidence term
    carries the gradient.
    """
    torch = _torch_modules().torch
    like = {"dtype": representation.dtype, "device": representation.device}
    vectors = torch.as_tensor(svm.support_vectors_, **like)
    coef = torch.as_tensor(svm.dual_coef_, **like)
    intercept = torch.as_tensor(svm.intercept_, **like)
    kernel = torch.exp(-float(svm._gamma) * torch.cdist(representation, vectors) ** 2)
    n_classes = len(svm.classes_)
    if n_classes == 2:
        decision = kernel @ coef[0] + intercept[0]
        return torch.stack([-decision, decision], dim=1) / 2
    bounds = np.concatenate([[0], np.cumsum(svm.n_support_)])
    votes = torch.zeros(len(representation), n_classes, **like)
    confidence = torch.zeros(len(representation), n_classes, **like)
    pair = 0
    for i in range(n_classes):
        for j in range(i + 1, n_classes):
            si = slice(bounds[i], bounds[i + 1])
            sj = slice(bounds[j], bounds[j + 1])
            d = (
                kernel[:, si] @ coef[j - 1, si]
                + kernel[:, sj] @ coef[i, sj]
                + intercept[pair]
            )
            pair += 1
            wins = (d.detach() > 0).to(d.dtype)
            votes[:, i] += wins
            votes[:, j] += 1 - wins
            confidence = confidence + torch.stack(
                [
                    d if c == i else -d if c == j else torch.zeros_like(d)
                    for c in range(n_classes)
                ],
                dim=1,
            )
    return votes + confidence / (3 * (confidence.abs() + 1))


def _transpose(matrix: Any):
    return None if matrix is None else matrix.T
