"""Prompts to tensors for causal LMs and VLMs: encoding, collation, label scoring.

A training example is ``prefix + answer``: the prefix is the user turn of the
backbone's chat template (with the image placeholder for a VLM, so every image
reaches the model) followed by the assistant header; the answer is the label text
(and, in rationale mode, the rationale) and the end-of-sequence token. Labels are
-100 on the prefix, so the loss is on the answer tokens only.

Label scoring encodes the prefix once per case and keeps its key/value cache; the
label texts are then scored as one small batch continuing from that cache, so
predicting costs about one forward pass per case whatever the number of classes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np

from vlmtsc.base import resolve_label_names, take_cases
from vlmtsc.persistence import (
    load_directory,
    restore_tensors,
    save_folder,
    store_tensors,
)
from vlmtsc.training._loop import (
    bf16_autocast,
    load_trainable_state,
    train,
    trainable_state,
)
from vlmtsc.training._selection import train_with_validation, validation_score

__all__ = [
    "LabelScoringModel",
    "batch_features",
    "batches_of_equal_shape",
    "collate",
    "decoder_blocks",
    "embed_prefixes",
    "encode_answer",
    "encode_prefix",
    "label_log_likelihoods",
    "middle_stages",
    "resolve_layers",
    "score_labels",
    "training_example",
]

IGNORE_INDEX = -100
_CACHE_COPIES = 64  # prefix caches one label-scoring batch may hold


def _chat_text(processor, prompt: str, with_image: bool) -> str:
    content = [{"type": "text", "text": prompt}]
    if with_image:
        content.insert(0, {"type": "image"})
    messages = [{"role": "user", "content": content}]
    template = getattr(processor, "chat_template", None) or getattr(
        getattr(processor, "tokenizer", None), "chat_template", None
    )
    if template is None:
        if with_image:
            raise ValueError(
                "This VLM's processor has no chat template to place the image."
            )
        return prompt
    if not with_image and not hasattr(processor, "tokenizer"):
        # Text tokenizers' templates expect plain string content.
        messages = [{"role": "user", "content": prompt}]
    return processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    )


def encode_prefix(backbone, prompt: str, image=None) -> dict[str, Any]:
    """Tokenise the chat prefix of one case (and process its image).

    Returns a dict of tensors without the batch dimension for ``input_ids`` and
    ``attention_mask``, and the processor's image tensors (``pixel_values`` and,
    per family, ``image_grid_thw`` or ``pixel_attention_mask``) as returned.
    """
    text = _chat_text(backbone.processor, prompt, image is not None)
    if image is None:
        ids = backbone.tokenizer(text, add_special_tokens=False, return_tensors="pt")
        return {
            "input_ids": ids["input_ids"][0],
            "attention_mask": ids["attention_mask"][0],
        }
    from PIL import Image

    inputs = backbone.processor(
        text=[text], images=[Image.fromarray(np.asarray(image))], return_tensors="pt"
    )
    # Per-token fields (input ids, masks, Qwen2-VL's mm_token_type_ids) lose the
    # batch dimension; image tensors keep their leading per-image dimension.
    length = inputs["input_ids"].shape[1]
    return {
        k: v[0] if v.ndim == 2 and v.shape == (1, length) else v
        for k, v in inputs.items()
    }


def _per_token(example: dict[str, Any]) -> list[str]:
    length = len(example["input_ids"])
    return [k for k, v in example.items() if v.ndim == 1 and len(v) == length]


def encode_answer(backbone, answer: str, *, terminate: bool = True) -> list[int]:
    """Token ids of an answer, followed by end-of-sequence when ``terminate``."""
    tokenizer = backbone.tokenizer
    ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    if terminate and tokenizer.eos_token_id is not None:
        ids = [*ids, tokenizer.eos_token_id]
    return ids


def collate(examples: list[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Right-pad a list of encoded examples into a batch.

    Per-token fields (1D, as long as ``input_ids``) are padded: ``input_ids`` with
    ``pad_token_id``, ``labels`` with -100, the rest with 0. Image tensors, which
    have a leading per-image dimension, are concatenated.
    """
    import torch

    length = max(len(e["input_ids"]) for e in examples)
    padding = {"input_ids": pad_token_id, "labels": IGNORE_INDEX}
    batch = {}
    for key in _per_token(examples[0]):
        column = torch.full(
            (len(examples), length), padding.get(key, 0), dtype=examples[0][key].dtype
        )
        for i, e in enumerate(examples):
            column[i, : len(e[key])] = e[key]
        batch[key] = column
    for key in examples[0].keys() - batch.keys():
        batch[key] = torch.cat([e[key] for e in examples])
    return batch


def training_example(prefix: dict[str, Any], answer_ids: list[int]) -> dict[str, Any]:
    """Append answer ids to an encoded prefix, with labels on the answer only."""
    import torch

    answer = torch.tensor(answer_ids, dtype=torch.long)
    extra = {"input_ids": answer, "attention_mask": torch.ones_like(answer)}
    example = dict(prefix)
    for key in _per_token(prefix):
        tail = extra.get(key, torch.zeros_like(answer, dtype=prefix[key].dtype))
        example[key] = torch.cat([prefix[key], tail])
    example["labels"] = torch.cat(
        [torch.full((len(prefix["input_ids"]),), IGNORE_INDEX), answer]
    )
    return example


def batches_of_equal_shape(prefixes: list[dict[str, Any]], batch_size: int):
    """Index lists of prefixes that stack into one batch without padding.

    Prefixes with the same token count and image-tensor shapes (every prompt of
    ``prompt_mode="image_only"``, for one) run together; padding is avoided
    because the label continuation reads the prefix's cache at fixed positions.
    """
    groups: dict[tuple, list[int]] = {}
    for i, prefix in enumerate(prefixes):
        key = tuple((k, tuple(v.shape)) for k, v in sorted(prefix.items()))
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        for start in range(0, len(members), batch_size):
            yield members[start : start + batch_size]


def shared_start(model, prefixes: list[dict[str, Any]]) -> int:
    """Leading tokens every text prefix shares, which :func:`score_labels` runs once.

    A prompt template puts the same tokens before every case (a chat system
    turn, the instructions, the candidate labels): in a causal model their keys
    and values do not depend on what follows, so one pass over them serves every
    case. 0 (nothing shared) when a prefix carries anything but per-token fields
    (an image's tensors: image tokens look alike but embed differently), or when
    a module of ``model`` declares ``reads_whole_sequence`` (D-LoRA's routers
    pool the whole prompt, so its start's cache depends on the rest). At least
    one token of each prefix is left to run with its case.

    Examples
    --------
    >>> import torch
    >>> prefixes = [{"input_ids": torch.tensor(i)} for i in ([1, 2, 3, 4], [1, 2, 5])]
    >>> shared_start(torch.nn.Linear(1, 1), prefixes)
    2
    """
    if any(getattr(m, "reads_whole_sequence", False) for m in model.modules()):
        return 0
    if any(len(_per_token(prefix)) != len(prefix) for prefix in prefixes):
        return 0
    length = min(len(prefix["input_ids"]) for prefix in prefixes) - 1
    first = prefixes[0]
    for prefix in prefixes[1:]:
        for key in _per_token(first):
            differs = np.flatnonzero(
                (prefix[key][:length] != first[key][:length]).numpy()
            )
            if differs.size:
                length = int(differs[0])
    return max(length, 0)


def _after_shared_start(inputs: dict[str, Any], common, start: int):
    """Model inputs that continue the shared start's key/value cache ``common``
    (:func:`shared_start`) with the rest of every row of ``inputs``.

    The rows have equal lengths (no padding) and no attention mask is passed:
    causal attention reads the start from the cache.
    """
    import copy

    import torch

    from vlmtsc.backbones import cache_keyword

    ids = inputs["input_ids"]
    cache = copy.deepcopy(common)
    cache.batch_repeat_interleave(len(ids))
    return {
        "input_ids": ids[:, start:],
        cache_keyword(): cache,
        "cache_position": torch.arange(start, ids.shape[1], device=ids.device),
    }


def shared_start_loss(model, batch: dict[str, Any]):
    """``model(**batch).loss`` with the rows' shared prompt start run once.

    For :func:`train`'s ``loss``: the start every row of a training batch shares
    (:func:`shared_start`, ending before the first answer token of any row) is
    run for one row, its key/value cache repeated for the others, and the rest
    of every row continues it. The same loss and gradients (the start's
    gradient sums over the rows that read it), at the cost of one start per
    batch instead of one per row. Batches with more than token ids, attention
    mask and labels, or without a shared start, take the plain call.
    """
    import torch

    from vlmtsc.backbones import cache_keyword, output_cache

    ids, labels = batch["input_ids"], batch.get("labels")
    if labels is None or batch.keys() - {"input_ids", "attention_mask", "labels"}:
        return model(**batch).loss
    answers = (labels != IGNORE_INDEX).int().argmax(dim=1)  # first answer token
    start = min(
        shared_start(model, [{"input_ids": row} for row in ids.cpu()]),
        int(answers.min()) - 1,
    )
    if start < 1:
        return model(**batch).loss
    cache = output_cache(
        model(input_ids=ids[:1, :start], use_cache=True, logits_to_keep=1)
    )
    if cache is None:  # gradient checkpointing turns the cache off in training
        return model(**batch).loss
    cache.batch_repeat_interleave(len(ids))
    rest = {"input_ids": ids[:, start:], "labels": labels[:, start:]}
    if "attention_mask" in batch:  # the whole length: cache and rest
        rest["attention_mask"] = batch["attention_mask"]
    return model(
        **rest,
        **{cache_keyword(): cache},
        cache_position=torch.arange(start, ids.shape[1], device=ids.device),
        use_cache=False,
    ).loss


def score_labels(
    model,
    prefixes: list[dict[str, Any]],
    label_ids: list[list[int]],
    *,
    batch_size: int = 16,
):
    """Log-likelihood of every label text after every prefix.

    The prefixes' shared start (:func:`shared_start`) runs once; each batch of
    prefixes continues its key/value cache, and each label continues the
    prefix's cache. The scores equal one teacher-forced pass over prefix + label
    (to float precision).

    Parameters
    ----------
    model : torch.nn.Module
        A causal LM or VLM.
    prefixes : list of dict
        From :func:`encode_prefix`.
    label_ids : list of list of int
        Token ids of each class's answer (from :func:`encode_answer`).
    batch_size : int, default=16
        Prefixes of equal shape encoded together, at most ``64 // n_classes``
        (at least one) when labels have several tokens: each label continues its
        own copy of every prefix's key/value cache (unbounded, InstructTime's
        predict on PigCVP's 52 classes at 16 prefixes per batch reached 11 GB
        resident).

    Returns
    -------
    ndarray of shape (n_cases, n_classes)
        Summed log-probabilities of each label's tokens.
    """

    import torch

    from vlmtsc.backbones import cache_keyword, output_cache

    device = next(model.parameters()).device
    n_labels = len(label_ids)
    longest = max(len(ids) for ids in label_ids)
    padded = torch.zeros((n_labels, longest), dtype=torch.long)
    mask = torch.zeros((n_labels, longest), dtype=torch.bool)
    for k, ids in enumerate(label_ids):
        padded[k, : len(ids)] = torch.tensor(ids)
        mask[k, : len(ids)] = True
    padded, mask = padded.to(device), mask.to(device)
    scores = np.empty((len(prefixes), n_labels))
    model.eval()
    with torch.no_grad():
        start = shared_start(model, prefixes)
        if start:
            common = prefixes[0]["input_ids"][None, :start].to(device)
            common = output_cache(
                model(input_ids=common, use_cache=True, logits_to_keep=1)
            )
        per_batch = batch_size
        if longest > 1:
            per_batch = max(1, min(batch_size, _CACHE_COPIES // n_labels))
        for members in batches_of_equal_shape(prefixes, per_batch):
            inputs = {
                k: v.to(device)
                for k, v in collate([prefixes[i] for i in members], 0).items()
            }
            prefix_length = inputs["input_ids"].shape[1]
            if start:
                inputs = _after_shared_start(inputs, common, start)
            # Only the last position's logits are needed (the output layer is
            # the widest matmul of a small LM).
            out = model(**inputs, use_cache=longest > 1, logits_to_keep=1)
            total = torch.log_softmax(out.logits[:, -1].float(), dim=-1)[
                :, padded[:, 0]
            ]
            if longest > 1:
                cache = output_cache(out)
                # Every case's cache is repeated once per label, case by case.
                cache.batch_repeat_interleave(n_labels)
                # No attention mask: the prefixes have no padding, and right-padded
                # label positions cannot affect earlier ones (causal attention).
                # Qwen2-VL would also build wrong M-RoPE positions from one.
                rest = model(
                    input_ids=padded[:, :-1].repeat(len(members), 1),
                    **{cache_keyword(): cache},
                    cache_position=torch.arange(
                        prefix_length, prefix_length + longest - 1, device=device
                    ),
                    use_cache=False,
                ).logits.float()
                logprobs = torch.log_softmax(rest, dim=-1)
                targets = padded[:, 1:].repeat(len(members), 1)
                picked = logprobs.gather(-1, targets[..., None])[..., 0]
                picked = (picked * mask[:, 1:].repeat(len(members), 1)).sum(dim=1)
                total = total + picked.view(len(members), n_labels)
            scores[members] = total.cpu().numpy()
    return scores


def label_log_likelihoods(model, inputs: dict[str, Any], label_ids: list[list[int]]):
    """What :func:`score_labels` computes for one collated batch, differentiably.

    Every case's prefix is repeated once per label and followed by the label's
    tokens in one forward pass (no key/value cache), so the result keeps the
    autograd graph to ``inputs`` (e.g. ``pixel_values``) when gradients are
    enabled (see :func:`vlmtsc.training.input_gradients`). The prefixes must
    have equal shapes (no padding); a label's right padding cannot reach its
    earlier positions.

    Returns
    -------
    torch.Tensor of shape (n_cases, n_classes)
        Summed log-probabilities of each label's tokens, float32.
    """
    import torch

    ids = inputs["input_ids"]
    n_cases, length = ids.shape
    n_labels = len(label_ids)
    longest = max(len(label) for label in label_ids)
    padded = torch.zeros((n_labels, longest), dtype=torch.long, device=ids.device)
    mask = torch.zeros((n_labels, longest), dtype=torch.bool, device=ids.device)
    for k, label in enumerate(label_ids):
        padded[k, : len(label)] = torch.tensor(label, device=ids.device)
        mask[k, : len(label)] = True
    tail = padded[:, :-1].repeat(n_cases, 1)  # the last token is only predicted
    batch = {}
    for key, value in inputs.items():
        value = value.repeat_interleave(n_labels, dim=0)
        if value.ndim == 2 and value.shape[1] == length:  # per-token fields
            extra = tail if key == "input_ids" else torch.ones_like(tail)
            if key not in ("input_ids", "attention_mask"):
                extra = torch.zeros_like(tail, dtype=value.dtype)
            value = torch.cat([value, extra.to(value.dtype)], dim=1)
        batch[key] = value
    logits = model(**batch, use_cache=False).logits[:, length - 1 :].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    targets = padded.repeat(n_cases, 1)
    picked = logprobs.gather(-1, targets[..., None])[..., 0]
    picked = (picked * mask.repeat(n_cases, 1)).sum(dim=1)
    return picked.view(n_cases, n_labels)


class LabelScoringModel:
    """A backbone with LoRA that learns "prompt -> label text" and scores labels.

    The shared core of the language-model estimators: it loads the backbone,
    adds the adapters, encodes prompts (and images), trains with the epoch count
    chosen on a validation split of the training data (then, with ``refit``,
    retrains from scratch on all of it for that many epochs), and scores every
    class's label text.

    Parameters
    ----------
    spec : str or callable
        Backbone spec for :func:`vlmtsc.backbones.load_backbone`.
    quantization : {None, "8bit", "4bit"}
    lora : dict, "full" or None
        ``r``, ``alpha``, ``dropout``, ``target_modules`` for
        :func:`vlmtsc.adapters.add_lora`; ``"full"`` fine-tunes every weight;
        ``None`` keeps the backbone frozen (feature extraction).
    device : str
    seed : int
        Seeds the tiny backbones' weights and the LoRA initialisation.
    verbose : int
    prepare : callable, optional
        ``prepare(backbone) -> list of module names`` run on every (re)load
        before the adapters are added, e.g. a
        :class:`~vlmtsc.adapters.SeriesVocabulary`; the named new modules are
        trained in full. Must pickle.
    mixed_precision : {"auto", "bf16", "no"}, default="auto"
        bfloat16 autocast of label scoring and of the features of
        :meth:`embed` (:func:`bf16_autocast`), as of the training
        steps: on a CPU with AVX512-BF16, InstructTime's predict
        went from 7.9 to 11.3 cases per second on Coffee (9.2 to 15.0 on
        ArrowHead), with 369 of 375 predictions of four sets unchanged.
    """

    kinds = ("causal_lm", "vlm")
    """The kinds of backbone that score label texts (not encoders)."""

    def __init__(
        self,
        spec,
        *,
        quantization,
        lora,
        device,
        seed,
        verbose,
        prepare=None,
        mixed_precision="auto",
    ):
        self.spec = spec
        self.mixed_precision = mixed_precision
        self.prepare = prepare
        self.quantization = quantization
        self.lora = lora
        self.device = device
        self.seed = seed
        self.verbose = verbose
        self._load()

    def _load(self) -> None:
        import torch

        from vlmtsc.adapters import add_lora
        from vlmtsc.backbones import load_backbone

        self.backbone = load_backbone(
            self.spec,
            kinds=self.kinds,
            caller="Label scoring",
            quantization=self.quantization,
            device=self.device,
            seed=self.seed,
            verbose=self.verbose,
        )
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)  # new modules and LoRA start the same
            new_modules = self.prepare(self.backbone) if self.prepare else []
            if self.lora is None:  # features only: the backbone as pretrained
                self.model = self.backbone.model.requires_grad_(False)
            elif self.lora == "full":
                if self.backbone.family.kind == "vlm":
                    raise ValueError(
                        "Full fine-tuning is offered for text language models; "
                        "fine-tune a vision-language model with LoRA."
                    )
                self.model = self.backbone.model.requires_grad_(True)
            else:
                lora = dict(self.lora)
                in_full = lora.pop("modules_to_save", None)
                if in_full is None:
                    in_full = self.backbone.family.train_in_full
                self.model = add_lora(
                    self.backbone,
                    modules_to_save=[*in_full, *new_modules] or None,
                    verbose=self.verbose,
                    **lora,
                )

    def __getstate__(self):
        # The loaded model holds hooks that do not pickle; the backbone is
        # reloaded from its spec and only the trained parameters travel: in the
        # state, or (inside vlmtsc.persistence.save) as a peft adapter folder
        # or a safetensors file beside it.
        state = {
            k: v for k, v in self.__dict__.items() if k not in ("backbone", "model")
        }
        adapter = None
        if isinstance(self.lora, dict):
            adapter = save_folder("adapter", self.model, self.model.save_pretrained)
        if adapter is not None:
            state["adapter"] = adapter
        else:
            state["trained"] = store_tensors("trained", trainable_state(self.model))
        return state

    def __setstate__(self, state):
        trained = state.pop("trained", None)
        adapter = state.pop("adapter", None)
        # Saved before label scoring took the autocast: it scored in float32.
        state.setdefault("mixed_precision", "no")
        self.__dict__.update(state)
        self._load()
        if adapter is not None:
            from peft import set_peft_model_state_dict
            from peft.utils import load_peft_weights

            weights = load_peft_weights(str(load_directory(adapter)), device="cpu")
            set_peft_model_state_dict(self.model, weights)
        else:
            load_trainable_state(self.model, restore_tensors(trained))
        self.model.eval()

    @property
    def tokenizer(self):
        return self.backbone.tokenizer

    @property
    def _device_type(self) -> str:
        """``"cpu"`` or ``"cuda"``: where the model's weights are."""
        return next(self.model.parameters()).device.type

    @property
    def uses_images(self) -> bool:
        return self.backbone.family.kind == "vlm"

    @property
    def _pad_id(self) -> int:
        tokenizer = self.tokenizer
        return (
            tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else (tokenizer.eos_token_id or 0)
        )

    def set_labels(self, classes, label_names, *, terminate: bool = True) -> list[str]:
        """Fix the label texts to score; returns them in ``classes`` order."""
        names = resolve_label_names(classes, label_names)
        self.label_ids = [
            encode_answer(self.backbone, f" {name}", terminate=terminate)
            for name in names
        ]
        return names

    def encode(self, prompts, images=None) -> list[tuple[dict, dict | None]]:
        """``(prefix, training example or None)`` for each prompt."""
        encoded = []
        for i, prompt in enumerate(prompts):
            image = images[i] if images is not None else None
            prefix = encode_prefix(self.backbone, prompt.prompt, image)
            example = None
            if prompt.answer is not None:
                example = training_example(
                    prefix, encode_answer(self.backbone, prompt.answer)
                )
            encoded.append((prefix, example))
        return encoded

    def score(self, encoded) -> np.ndarray:
        """Log-likelihood of each label after each prefix, ``(n_cases, n_classes)``."""
        with bf16_autocast(self._device_type, self.mixed_precision):
            return score_labels(
                self.model, [prefix for prefix, _ in encoded], self.label_ids
            )

    def generate(self, encoded, max_new_tokens: int = 32) -> list[str]:
        """Greedy free-text continuation of each prefix (explanations)."""
        import torch

        device = next(self.model.parameters()).device
        texts = []
        self.model.eval()
        with torch.no_grad():
            for prefix, _ in encoded:
                inputs = {k: v.to(device) for k, v in collate([prefix], 0).items()}
                out = self.model.generate(
                    **inputs,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=self._pad_id,
                )
                new = out[0, inputs["input_ids"].shape[1] :]
                texts.append(self.tokenizer.decode(new, skip_special_tokens=True))
        return texts

    def embed(
        self,
        encoded,
        source: str | None = None,
        layers: str | int | Sequence[int] | None = None,
    ) -> np.ndarray:
        """One vector per case from the (frozen or fine-tuned) backbone.

        ``"hidden"``: the language model's hidden states averaged over the
        prompt's tokens (image tokens included). ``"vision"``: the vision
        encoder's features of the image averaged over its spatial tokens (VLMs
        only). ``None``: ``"vision"`` for a VLM, else ``"hidden"``. ``layers``
        picks the layers (stages, for a CNN) whose averages are concatenated:
        see :func:`resolve_layers`. Both are computed under label scoring's
        autocast (``mixed_precision``): bf16 where the device multiplies it
        natively, about half the time of float32 for the CNN on such a CPU.
        """
        if source is None:
            source = "vision" if self.uses_images else "hidden"
        prefixes = [prefix for prefix, _ in encoded]
        layers = resolve_layers(self.model, source, layers)
        with bf16_autocast(self._device_type, self.mixed_precision):
            return embed_prefixes(self.model, prefixes, source, layers=layers)

    def _train(self, pool, config, evaluate, random_state, description):
        """Train on ``pool``: ``(examples, n_examples)`` or a ``rng -> examples``
        callable with its per-epoch size (fresh augmented examples each epoch)."""
        make_examples, n_examples = pool

        def batches(rng):
            examples = make_examples(rng)
            order = rng.permutation(len(examples))
            for start in range(0, len(order), config.batch_size):
                chosen = [examples[i] for i in order[start : start + config.batch_size]]
                yield collate(chosen, self._pad_id)

        return train(
            self.model,
            batches,
            -(-n_examples // config.batch_size),
            config,
            evaluate=evaluate,
            random_state=random_state,
            verbose=self.verbose,
            description=description,
            loss=shared_start_loss,
        )

    def fit_examples(self, examples, config, *, random_state=0, description="training"):
        """Train on encoded examples for ``config.n_epochs`` (no validation).

        For data that chooses no epoch count, e.g. pre-training; returns the
        :class:`~vlmtsc.training.TrainingResult`.
        """
        return self._train(
            ((lambda rng: examples), len(examples)),
            config,
            None,
            random_state,
            description,
        )

    def fit(
        self,
        X,
        y,
        encode,
        config,
        *,
        splits,
        refit=True,
        augmenter=None,
        random_state=0,
    ):
        """Train on series ``X``; returns ``(history, best_epoch)``.

        Parameters
        ----------
        X : Series
            Canonical training series (:func:`vlmtsc.base.check_series`).
        y : ndarray of int
            Encoded labels.
        encode : callable
            ``encode(X, y) -> [(prefix, example), ...]`` (``y=None``: prefixes only).
        config : TrainingConfig
        splits : list of (fit, validation)
            The validation plan (:func:`vlmtsc.training.validation_splits`):
            label scoring on the validation cases chooses the epoch count by
            :func:`vlmtsc.training.validation_score` (accuracy, ties broken by
            log-loss; the mean curve over k folds); empty trains
            ``config.n_epochs`` epochs on all of ``X``.
        refit : bool
            After choosing the epoch count on held-out data, train a fresh model
            (the backbone reloaded) on all of ``X`` for that many epochs (always
            after k-fold).
        augmenter : SeriesAugmenter, optional
            Every epoch shows each case and ``augmenter.n_copies`` fresh varied
            copies of it; validation cases are never augmented.
        random_state : int
        """
        y = np.asarray(y)
        # Encoded once: a prefix does not depend on the answer appended to it.
        encoded = encode(X, y)

        def pool(index):
            fixed = [encoded[i][1] for i in index]
            if augmenter is None:
                return (lambda rng: fixed), len(fixed)

            def make_examples(rng):
                varied, source = augmenter.expand(take_cases(X, index), rng)
                return fixed + [
                    example
                    for _, example in encode(
                        take_cases(varied, range(len(index), len(source))),
                        y[index][source[len(index) :]],
                    )
                ]

            return make_examples, len(fixed) * (1 + augmenter.n_copies)

        def run(fit_index, val_index, settings, phase):
            evaluate = None
            if val_index is not None:
                validation = [encoded[i] for i in val_index]

                def evaluate(model):
                    # The torch estimators' rule: accuracy, ties by log-loss
                    # (the label scores normalised over the classes).
                    return validation_score(self.score(validation), y[val_index])

            description = {
                "refit": "refitting on all training data",
                "validation": "fine-tuning",
                "train": "fine-tuning",
            }.get(phase, phase)
            result = self._train(
                pool(fit_index), settings, evaluate, random_state, description
            )
            return _phase(result.history, phase), result.best_epoch

        return train_with_validation(
            run, splits, np.arange(len(y)), config, refit=refit, reset=self._load
        )


FEATURE_SOURCES = ("hidden", "vision")


def _vision_features(base, prefix: dict[str, Any]):
    import inspect

    import torch

    if hasattr(base, "vision_features"):  # vlmtsc's composed VLM: raw CNN features
        return base.vision_features(prefix["pixel_values"])
    accepted = inspect.signature(base.get_image_features).parameters
    out = base.get_image_features(**{k: v for k, v in prefix.items() if k in accepted})
    features = getattr(out, "pooler_output", None)
    if features is None:
        features = getattr(out, "last_hidden_state", out)
    if isinstance(features, (list, tuple)):
        features = torch.cat([f.reshape(-1, f.shape[-1]) for f in features])
    return features


def resolve_layers(model, source: str, layers) -> list[int] | None:
    """The layer indices ``layers`` stands for (``None``: the last layer).

    ``"last"`` or ``None``: the last layer. An int or a list of ints: those
    layers (see :func:`embed_prefixes`). ``"auto"``: for the vision encoder of
    vlmtsc's composed VLMs, the CNN's blocks after a third and two thirds of
    them and its last block (:func:`middle_stages`): the intermediate blocks
    carry more of a plot's shapes than the ImageNet-specific head (measured in
    the features guide); for the language model's hidden states, the output
    of its middle block (hidden state ``n_layers // 2``: SmolLM2-135M's 15 of
    30), which beat the last on 8 of 11 bundled training splits for
    InstructTime's probe, tied on 2 and lost on 1 (its guide, *Which head*);
    for anything else the last layer.

    Examples
    --------
    >>> from vlmtsc.backbones import load_backbone
    >>> vlm = load_backbone("tiny-composed", verbose=0).model
    >>> resolve_layers(vlm, "vision", "auto"), resolve_layers(vlm, "vision", -2)
    ([0, 1], [-2])
    >>> lm = load_backbone("tiny-llama", verbose=0).model  # 2 blocks
    >>> resolve_layers(lm, "hidden", "auto")
    [1]
    """
    if layers is None or (isinstance(layers, str) and layers == "last"):
        return None
    if isinstance(layers, str):
        if layers != "auto":
            raise ValueError(
                f"layers must be 'auto', 'last', an int or a list of ints, got "
                f"{layers!r}."
            )
        base = _unwrapped(model)
        if source == "hidden":
            return [base.config.get_text_config().num_hidden_layers // 2]
        if not hasattr(base, "n_vision_stages"):
            return None
        return middle_stages(base.n_vision_stages)
    if isinstance(layers, Integral):
        return [int(layers)]
    return [int(layer) for layer in layers]


def middle_stages(n_stages: int) -> list[int]:
    """Stages after a third and two thirds of a CNN's blocks, and its last block.

    ``n_stages`` counts the blocks and the head (the last stage, left out).

    Examples
    --------
    >>> middle_stages(17)  # EfficientNet-Lite0: 16 blocks, then the head
    [5, 10, 15]
    """
    n_blocks = n_stages - 1
    return sorted({n_blocks // 3, 2 * n_blocks // 3, n_blocks - 1})


def _unwrapped(model):
    """``model`` without its peft wrapper, if it has one."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _pick(layers: Sequence[int], available: int, what: str) -> list[int]:
    """``layers`` as indices into ``available`` outputs, or a clear error."""
    picked = []
    for layer in layers:
        if not -available <= layer < available:
            raise ValueError(
                f"layers={list(layers)} asks for {what} {layer}; this backbone has "
                f"{available} (valid: {-available} to {available - 1}, -1 the last)."
            )
        picked.append(layer % available)
    return picked


def _vision_layers(base, prefix: dict[str, Any], layers: Sequence[int]):
    """Mean-pooled outputs of the vision encoder's ``layers``, concatenated."""
    import torch

    pixel_values = prefix["pixel_values"]
    if hasattr(base, "vision_stages"):  # vlmtsc's composed VLM: CNN stages
        return torch.cat(base.vision_stages(pixel_values, list(layers)), dim=1)
    tower = getattr(base, "vision_tower", None) or getattr(
        getattr(base, "model", None), "vision_tower", None
    )
    if tower is None:
        raise ValueError(
            "layers needs a vision encoder whose layers vlmtsc can read "
            "(vlmtsc's composed VLMs, or a model with a `vision_tower`); use "
            "layers='last' for this backbone."
        )
    param = next(tower.parameters())
    hidden = tower(
        pixel_values=pixel_values.to(param.device, param.dtype),
        output_hidden_states=True,
    ).hidden_states
    picked = _pick(layers, len(hidden), "layer")
    return torch.cat([hidden[i].float().mean(dim=1) for i in picked], dim=1)


def decoder_blocks(model):
    """``(module, name)`` of the block list of a decoder-only language model
    (``layers`` in Llama, ``h`` in GPT-2), or ``None`` where none is found.

    ``model`` is a transformers model, with its LM head or not, possibly wrapped
    by peft; the blocks are the first ``ModuleList`` of its decoder (its base
    model), and only a list of ``num_hidden_layers`` blocks counts.

    Examples
    --------
    >>> from vlmtsc.backbones import load_backbone
    >>> lm = load_backbone("tiny-llama", verbose=0).model
    >>> module, name = decoder_blocks(lm)
    >>> name, len(getattr(module, name))
    ('layers', 2)
    """
    from torch import nn

    base = _unwrapped(model)
    try:
        decoder = base.get_decoder()
    except (AttributeError, NotImplementedError, ValueError):  # no rule for it
        decoder = base
    n_layers = getattr(base.config.get_text_config(), "num_hidden_layers", None)
    for name, child in decoder.named_children():
        if isinstance(child, nn.ModuleList):
            return (decoder, name) if len(child) == n_layers else None
    return None


@contextlib.contextmanager
def _first_blocks(model, n_blocks: int | None):
    """Inside, ``model`` runs only the first ``n_blocks`` blocks of its language
    model (``None``, or no block list found: all of them).

    Hidden states below the last come out the same, and the blocks above are
    not computed (the last hidden state of a cut model is normalised, so read
    the states of at most ``n_blocks - 1`` blocks).
    """
    found = None if n_blocks is None else decoder_blocks(model)
    if found is None:
        yield
        return
    module, name = found
    blocks = getattr(module, name)
    setattr(module, name, blocks[:n_blocks])
    try:
        yield
    finally:
        setattr(module, name, blocks)


def _hidden_layers(model, inputs, layers: Sequence[int] | None, **kwargs):
    """Hidden states of ``layers`` (the last for ``None``), concatenated, and
    the model's output (``kwargs`` go to the model call).

    Only the blocks up to the deepest layer asked for run (SmolLM2-135M's
    middle layer, InstructTime's default: 16 of its 30 blocks)."""
    import torch

    # The output layer (the widest matmul of a small LM) for one position only.
    kwargs = {"use_cache": False, **kwargs}
    n_blocks = None
    if layers is not None:
        base = _unwrapped(model)
        n_layers = base.config.get_text_config().num_hidden_layers
        picked = _pick(layers, n_layers + 1, "hidden state")
        if max(picked) < n_layers:  # the last is normalised: all blocks
            n_blocks = max(picked) + 1
    with _first_blocks(model, n_blocks):
        out = model(**inputs, output_hidden_states=True, logits_to_keep=1, **kwargs)
    hidden = out.hidden_states
    if layers is None:
        return hidden[-1], out
    return torch.cat([hidden[i] for i in picked], dim=-1), out


def embed_prefixes(
    model,
    prefixes: list[dict[str, Any]],
    source: str,
    *,
    layers: Sequence[int] | None = None,
    batch_size: int = 8,
) -> np.ndarray:
    """Mean-pooled features of each encoded prefix (see ``LabelScoringModel.embed``).

    ``layers=None`` takes the last layer: the vision encoder's last feature map
    (or its pooled output) for ``"vision"``, the language model's last hidden
    state for ``"hidden"``. A list of indices takes those layers instead, each
    averaged over its tokens (positions, for a CNN stage) and concatenated in
    the given order: for ``"hidden"`` indices into the hidden states (0 the
    embeddings), for ``"vision"`` into the stages of vlmtsc's composed VLMs
    (the CNN's blocks, then its head) or the layers of a ``vision_tower``.
    Negative indices count from the last. For ``"hidden"``, the start all
    prefixes share (:func:`shared_start`) runs once and its hidden states
    join every case's average: the same features as whole prompts.
    """
    import torch

    if source not in FEATURE_SOURCES:
        raise ValueError(f"features must be one of {FEATURE_SOURCES}, got {source!r}.")
    if source == "vision" and "pixel_values" not in prefixes[0]:
        raise ValueError(
            "features='vision' needs a vision-language backbone; this one "
            "reads text only. Use features='hidden'."
        )
    from vlmtsc.backbones import output_cache

    device = next(model.parameters()).device
    rows: list[Any] = [None] * len(prefixes)
    model.eval()
    with torch.no_grad():
        # The prefixes' shared start runs once (as in score_labels): its hidden
        # states are every case's, summed once into each case's mean.
        start = shared_start(model, prefixes) if source == "hidden" else 0
        if start:
            common = prefixes[0]["input_ids"][None, :start].to(device)
            states, out = _hidden_layers(
                model, {"input_ids": common}, layers, use_cache=True
            )
            common, common_sum = output_cache(out), states.float().sum(dim=1)
        for members in batches_of_equal_shape(prefixes, batch_size):
            inputs = {
                k: v.to(device)
                for k, v in collate([prefixes[i] for i in members], 0).items()
            }
            if start:  # equal shapes: no padding, every case `length` tokens
                length = inputs["input_ids"].shape[1]
                states, _ = _hidden_layers(
                    model, _after_shared_start(inputs, common, start), layers
                )
                vectors = (common_sum + states.float().sum(dim=1)) / length
            else:
                vectors = batch_features(model, inputs, source, layers, len(members))
            for i, vector in zip(members, vectors, strict=True):
                rows[i] = vector.cpu().numpy()
    return np.stack(rows)


def batch_features(model, inputs: dict[str, Any], source: str, layers, n_cases: int):
    """The pooled features of one collated batch, ``(n_cases, n_features)`` float32.

    What :func:`embed_prefixes` computes per batch, as a tensor that keeps the
    autograd graph when gradients are enabled (see
    :func:`vlmtsc.training.input_gradients`). Hidden states are averaged over
    each prompt's tokens, padding excluded (the ``attention_mask``); vision
    features need prefixes of equal shapes.
    """
    base = _unwrapped(model)
    if source == "hidden":
        features = _hidden_layers(model, inputs, layers)[0].float()
        mask = inputs["attention_mask"][..., None].to(features.dtype)
        return (features * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
    if layers is None:
        features = _vision_features(base, inputs)
    else:  # already one pooled vector per image
        features = _vision_layers(base, inputs, layers)[:, None, :]
    # Equal shapes within the batch: every case owns the same number of
    # consecutive feature rows (image tokens).
    vectors = features.reshape(n_cases, -1, features.shape[-1])
    return vectors.float().mean(dim=1)


def _phase(history: list[dict], phase: str) -> list[dict]:
    return [{"phase": phase, **entry} for entry in history]
