"""What every classifier built on its own torch network does the same way.

CrossTimeNet, Time-LlaMA and MTCS build a torch network (around a language model,
or from scratch) and train it with cross-entropy. :class:`BaseNetworkClassifier`
owns what they share, so each estimator file keeps only its network, its batch
builder and its recipe:

- the device (``device_``) and the epoch selection with refit
  (:func:`vlmtsc.training.train_with_validation`, one rule for all);
- the epoch's training batches: every training case once as it is, plus
  ``augmentation.n_copies`` freshly varied copies, shuffled
  (:meth:`BaseNetworkClassifier._epoch_batches`);
- inference in batches, sorted by length so that batches pad little
  (:meth:`BaseNetworkClassifier._infer`), ``predict_proba`` and ``transform``;
- the linear probe (``head="linear"`` where an estimator offers it): the
  shared :func:`vlmtsc.training.fit_probe` on the frozen network's
  representation (:meth:`BaseNetworkClassifier._fit_probe`), which then
  answers ``predict_proba`` in place of the network's own head;
- LP-FT (``_train_with_validation(from_probe=True)``): the network's linear
  head started from that probe before each training run, the probe scored as
  epoch 0 (:meth:`BaseNetworkClassifier._start_from_probe`);
- pickling of the lazily built network: it travels as its configuration and
  weights (only the trained ones where the rest is a frozen backbone rebuilt
  from its spec).

The hooks a subclass implements: :meth:`~BaseNetworkClassifier._inputs` (series
to the network's per-case inputs), :meth:`~BaseNetworkClassifier._collate`
(a batch of those to tensors), :meth:`~BaseNetworkClassifier._rebuild_network`
(a saved network back), and optionally
:meth:`~BaseNetworkClassifier._input_lengths` and
:meth:`~BaseNetworkClassifier._saved_weights`.

Gradient explanations (``explain(method="gradient")``) share one routine,
:meth:`BaseNetworkClassifier._gradient_x_input`: the gradient of each case's
target log-probability with respect to the network's input tensor or an
embedding layer's output, one backward pass per batch, parameters untouched.
Each estimator only maps the result back to time steps
(:meth:`vlmtsc.tokenizers.VQTokenizer.token_attributions` for VQ tokens).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Any

import numpy as np
from scipy.special import softmax
from sklearn.base import clone

from vlmtsc.base import take_cases
from vlmtsc.classification._base import BaseTrainedClassifier
from vlmtsc.persistence import restore_tensors, store_tensors
from vlmtsc.training import (
    captured_output,
    fit_probe,
    input_gradients,
    probe_as_linear,
    train,
    train_with_validation,
    validation_score,
)

__all__ = [
    "BaseNetworkClassifier",
]

DESCRIPTIONS = {"refit": "refitting on all training data"}


def take(items, index):
    """The items at ``index`` of an array or a list."""
    if isinstance(items, np.ndarray):
        return items[np.asarray(index, dtype=int)]
    return [items[i] for i in index]


def concatenate(first, second):
    """Two item collections (arrays or lists) as one."""
    if isinstance(first, np.ndarray):
        return np.concatenate([first, second])
    return list(first) + list(second)


class BaseNetworkClassifier(BaseTrainedClassifier):
    """Fit, predict and embed with a torch network built by the estimator.

    Subclasses implement :meth:`_fit_recipe` (building the network and
    calling :meth:`_train_with_validation`, or :meth:`_fit_probe` for a
    linear probe, kept as ``head_``), :meth:`_inputs`, :meth:`_collate` and
    :meth:`_rebuild_network`; the fitted network is ``model_``.
    """

    #: Cases per inference batch (no gradients: larger than training batches).
    _inference_batch_size = 64

    # ----------------------------------------------------------------- hooks
    def _inputs(self, X):  # pragma: no cover - abstract
        """The network's input of every case of canonical ``X`` (normalised):
        an array (cases first) or a list."""
        raise NotImplementedError

    def _input_lengths(self, inputs) -> np.ndarray | None:
        """Length of every input, to batch similar lengths in inference
        (``None``: all equal)."""
        return None

    def _collate(self, inputs, **context) -> dict:  # pragma: no cover - abstract
        """Tensors of a batch of inputs: the keyword arguments of the network."""
        raise NotImplementedError

    def _output(self, network, batch: dict, what: str):
        """``"logits"`` of a batch, or its ``"representation"`` (transform)."""
        if what == "logits":
            return network(**batch).logits
        return network.represent(**batch)

    def _saved_weights(self, network) -> dict:
        """The tensors training can change, which a pickle keeps (default: the
        whole state)."""
        return network.state_dict()

    def _rebuild_network(self, saved: dict):  # pragma: no cover - abstract
        """The fitted network from ``{"config", "weights"}`` of :meth:`__getstate__`."""
        raise NotImplementedError

    def _network_config(self, network) -> Any:
        """What :meth:`_rebuild_network` needs besides the weights."""
        return getattr(network, "config", None)

    # ----------------------------------------------------------------- training
    def _epoch_batches(self, inputs, X, y, index, batch_size):
        """``(batches, n_batches)``: one epoch over the cases ``index``.

        Each case once as it is and ``augmentation.n_copies`` times freshly
        varied (varied from the raw series, then normalised and encoded like
        them), in a random order; ``batches(rng)`` yields collated batches with
        ``labels``.
        """
        torch = _torch()
        augmenter = clone(self.augmentation) if self.augmentation else None
        passes = 1 + (augmenter.n_copies if augmenter is not None else 0)

        def batches(rng):
            pool, labels = take(inputs, index), y[index]
            if augmenter is not None:
                varied, source = augmenter.expand(take_cases(X, index), rng)
                extra = take_cases(varied, range(len(index), len(source)))
                extra = self._inputs(self.normalizer_.transform(extra))
                pool = concatenate(pool, extra)
                labels = y[index][source]
            order = rng.permutation(len(pool))
            for start in range(0, len(order), batch_size):
                chosen = order[start : start + batch_size]
                batch = self._collate(take(pool, chosen))
                batch["labels"] = torch.from_numpy(labels[chosen]).long()
                yield batch

        return batches, math.ceil(passes * len(index) / batch_size)

    def _train(
        self,
        network,
        batches,
        n_batches,
        config,
        evaluate,
        seed,
        phase,
        score_start=False,
        description=None,
    ):
        """Run :func:`vlmtsc.training.train`; ``(history with phase, best epoch)``.
        ``score_start`` scores the starting network as epoch 0."""
        result = train(
            network,
            batches,
            n_batches,
            config,
            evaluate=evaluate,
            random_state=seed,
            verbose=self.verbose,
            description=description or DESCRIPTIONS.get(phase, "training"),
            score_start=score_start,
        )
        return [{"phase": phase, **entry} for entry in result.history], (
            result.best_epoch
        )

    def _train_with_validation(
        self, network, inputs, X, y, index, splits, config, seed, from_probe=False
    ):
        """Train ``network`` on the cases ``index`` with the epoch count chosen on
        ``splits`` (positions into ``index``); ``(history, best_epoch)``.

        ``from_probe``: LP-FT. Every run (validation, fold, refit) first fits
        the linear probe on its own training cases and starts the head from
        it (:meth:`_start_from_probe`); the probe itself is scored as epoch 0,
        so it is kept unless a trained epoch does better on validation."""

        def run(fit, validation, config, phase):
            if from_probe:
                cases = index[fit]
                self._start_from_probe(
                    network, take(inputs, cases), take_cases(X, cases), y[cases], seed
                )
                if config.n_epochs == 0:  # the refit of a probe no epoch beat
                    return [], 0
            evaluate = None
            if validation is not None:
                chosen = index[validation]

                def evaluate(model):
                    logits = self._infer(model, take(inputs, chosen))
                    return validation_score(logits, y[chosen])

            batches, n_batches = self._epoch_batches(
                inputs, X, y, index[fit], config.batch_size
            )
            return self._train(
                network, batches, n_batches, config, evaluate, seed, phase, from_probe
            )

        history, best_epoch = train_with_validation(
            run,
            splits,
            np.arange(len(index)),
            config,
            refit=self.refit,
            reset=self._restorer(network),
        )
        network.requires_grad_(False)
        network.eval()
        return history, best_epoch

    def _fit_probe(self, network, inputs, X, y, seed):
        """The linear probe on ``network``'s representation, frozen: standardised
        logistic regression (:func:`vlmtsc.training.fit_probe`) on every
        training case of ``inputs`` (raw series ``X``, labels ``y``) and, with
        ``augmentation``, ``n_copies`` varied copies of each (kept in their
        case's fold when the strength is chosen)."""
        source = None
        if self.augmentation is not None:
            varied, source = clone(self.augmentation).expand(
                X, np.random.default_rng(seed)
            )
            extra = take_cases(varied, range(len(y), len(source)))
            inputs = concatenate(
                inputs, self._inputs(self.normalizer_.transform(extra))
            )
            y = y[source]
        network.requires_grad_(False)
        network.eval()
        features = self._infer(network, inputs, "representation")
        return fit_probe(features, y, seed, source)

    def _start_from_probe(self, network, inputs, X, y, seed):
        """Fit the probe on these cases (:meth:`_fit_probe`, the network as it
        is) and write it into the network's linear head (:meth:`_probe_head`),
        the scaler folded in (:func:`vlmtsc.training.probe_as_linear`): the
        network then answers as the probe does. What was trainable stays so."""
        torch = _torch()
        trainable = [p for p in network.parameters() if p.requires_grad]
        probe = self._fit_probe(network, inputs, X, y, seed)
        for parameter in trainable:
            parameter.requires_grad_(True)
        weight, bias = probe_as_linear(probe, len(self.classes_))
        head = self._probe_head(network)
        with torch.no_grad():
            head.weight.copy_(torch.as_tensor(weight, dtype=head.weight.dtype))
            head.bias.copy_(torch.as_tensor(bias, dtype=head.bias.dtype))

    def _probe_head(self, network):
        """The ``torch.nn.Linear`` that maps the ``"representation"`` output to
        the logits, which LP-FT starts from the probe (default ``network.head``)."""
        return network.head

    def _restorer(self, network):
        """A callable that puts ``network`` back in its present state (the
        weights training can change)."""
        start = {k: v.detach().clone() for k, v in self._saved_weights(network).items()}
        return lambda: network.load_state_dict(start, strict=False)

    # ----------------------------------------------------------------- inference
    def _infer(self, network, inputs, what="logits", **context) -> np.ndarray:
        """Network outputs of ``inputs`` in batches (similar lengths together),
        rows in the order of ``inputs``; float32."""
        torch = _torch()
        rows = np.empty(len(inputs), dtype=object)
        network.eval()
        with torch.no_grad():
            batches = self._batches(
                network, inputs, self._inference_batch_size, context
            )
            for chosen, batch in batches:
                out = self._output(network, batch, what).float().cpu().numpy()
                rows[chosen] = list(out)
        return np.stack(rows)

    def _batches(self, network, inputs, size: int, context: dict):
        """``(indices, collated batch on the network's device)`` of ``inputs``
        in batches of ``size``, similar lengths together."""
        device = next(network.parameters()).device
        lengths = self._input_lengths(inputs)
        order = (
            np.arange(len(inputs))
            if lengths is None
            else np.argsort(lengths, kind="stable")
        )
        for start in range(0, len(order), size):
            chosen = order[start : start + size]
            batch = self._collate(take(inputs, chosen), **context)
            yield (
                chosen,
                {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()},
            )

    def _predict_proba(self, X):
        inputs = self._inputs(self.normalizer_.transform(X))
        if getattr(self, "head_", None) is not None:  # the linear probe
            return self.head_.predict_proba(
                self._infer(self.model_, inputs, "representation")
            )
        return softmax(self._infer(self.model_, inputs).astype(np.float64), axis=1)

    def transform(self, X, **params):
        """The representation the classification head reads.

        Parameters
        ----------
        X : array-like or list of array-like
            Series with the channels seen in fit.
        **params
            As for :meth:`predict_proba` (MTCS: ``task``).

        Returns
        -------
        ndarray of shape (n_cases, n_features)
        """
        return self._transform(self._check_predict_X(X, **params), **params)

    def _transform(self, X):
        inputs = self._inputs(self.normalizer_.transform(X))
        return self._infer(self.model_, inputs, "representation")

    # ----------------------------------------------------------------- explaining
    def _explanation_methods(self):
        """Gradients through the network (:meth:`_gradient_attributions`),
        unless a fitted linear probe answers instead: occlusion only."""
        if getattr(self, "head_", None) is not None:
            return ("occlusion",)
        return ("occlusion", "gradient")

    #: Cases per backward pass of :meth:`_gradient_x_input`.
    _gradient_batch_size = 16

    def _log_probabilities(self, network, batch):
        """Per-class log-probabilities ``(batch, n_classes)`` of a collated batch,
        differentiable; default ``log_softmax`` of the ``"logits"`` output."""
        torch = _torch()
        return torch.log_softmax(self._output(network, batch, "logits").float(), -1)

    def _gradient_x_input(
        self, inputs, targets, *, key=None, module=None, times_input=True, **context
    ) -> list[np.ndarray]:
        """Gradient (x input) of each case's target log-probability.

        Differentiates ``log p(targets[i] | case i)`` (:meth:`_log_probabilities`)
        with respect to either the collated tensor ``batch[key]`` or the output
        of ``module`` (an embedding layer called once per forward pass), one
        backward pass per batch of :attr:`_gradient_batch_size` cases (similar
        lengths together), in eval mode, through ``torch.autograd.grad`` only:
        no parameter gets a ``.grad`` and every ``requires_grad`` flag is put
        back (:func:`vlmtsc.training.input_gradients`). Padding does not leak between
        cases: each case's log-probability depends on its own row only.

        Parameters
        ----------
        inputs : array or list
            Per-case network inputs (:meth:`_inputs`).
        targets : ndarray of int of shape (n_cases,)
            Class column per case.
        key : str, optional
            The batch entry to differentiate.
        module : torch.nn.Module, optional
            Or the module whose output to differentiate.
        times_input : bool, default=True
            Return gradient x input (signed) rather than the gradient.
        **context
            Passed to :meth:`_collate`.

        Returns
        -------
        list of ndarray
            Per case its row of the batch: the shape of ``batch[key][i]``
            (padded as collated), or ``(n_positions,)`` for ``module`` (the
            product summed over the embedding dimension; with
            ``times_input=False``, ``(n_positions, embedding_dim)``).
        """
        if (key is None) == (module is None):
            raise ValueError("Pass exactly one of key= and module=.")
        torch = _torch()
        network = self.model_
        targets = np.asarray(targets, dtype=np.int64)
        rows: list = [None] * len(inputs)
        size = max(1, int(self._gradient_batch_size))
        with input_gradients(network):
            for chosen, batch in self._batches(network, inputs, size, context):
                if key is not None:
                    batch[key] = batch[key].detach().requires_grad_(True)
                watch = captured_output(module) if module is not None else nullcontext()
                with watch as captured:
                    log_p = self._log_probabilities(network, batch)
                if key is not None:
                    leaf = batch[key]
                elif len(captured) != 1:
                    raise RuntimeError(
                        f"{type(module).__name__} ran {len(captured)} times in one "
                        "forward pass; gradient attributions need exactly one."
                    )
                else:
                    leaf = captured[0]
                picked = log_p[
                    torch.arange(len(chosen), device=log_p.device),
                    torch.from_numpy(targets[chosen]).to(log_p.device),
                ]
                (gradient,) = torch.autograd.grad(picked.sum(), leaf)
                out = gradient * leaf if times_input else gradient
                out = out.detach().float()
                if module is not None and times_input:
                    out = out.sum(-1)
                out = out.cpu().numpy().astype(np.float64)
                for row, i in enumerate(chosen):
                    rows[i] = out[row]
        return rows

    # ----------------------------------------------------------------- pickling
    def __getstate__(self):
        state = dict(super().__getstate__())  # may be the live __dict__
        network = state.get("model_")
        if network is not None and not isinstance(network, dict):
            # The torch classes are built at run time (torch loads lazily), so
            # the network travels as its configuration and weights.
            state["model_"] = {
                "config": self._network_config(network),
                "weights": store_tensors("model", self._saved_weights(network)),
            }
        return state

    def __setstate__(self, state):
        saved = state.get("model_")
        super().__setstate__(state)
        if isinstance(saved, dict):
            if self.device_.startswith("cuda") and not _torch().cuda.is_available():
                self.device_ = "cpu"
            network = self._rebuild_network(
                {**saved, "weights": restore_tensors(saved["weights"])}
            )
            network.requires_grad_(False)
            network.eval()
            self.model_ = network.to(self.device_)


def _torch():
    import torch

    return torch
