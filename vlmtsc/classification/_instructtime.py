"""InstructTimeClassifier: VQ tokens of a series in a causal LM that answers labels."""

from __future__ import annotations

from sklearn.base import clone

from vlmtsc.classification._lm_base import BaseLanguageModelClassifier
from vlmtsc.prompts import PromptExample
from vlmtsc.training import normalize_series

FINE_TUNING = ("lora", "full")
DOMAIN = "signal"  # token names <ts:signal:k>; one domain per estimator


class InstructTimeClassifier(BaseLanguageModelClassifier):
    """Classify time series as text generation over VQ tokens (InstructTime).

    The recipe of seed 000, without its faults: a VQ-VAE tokenizer (fitted on
    the training series only) turns every series into codebook indices; each
    code becomes a new token of the language model, whose input embedding is the
    frozen codebook vector through a learned MLP; the prompt (domain preface,
    ``<BET>`` tokens ``<EET>``, candidate labels, question) is followed by the
    label text, and the model is fine-tuned with the loss on the answer only
    (LoRA, QLoRA or all weights). The epoch count is chosen on a validation split
    of the training data, never on the test set; a prediction scores every
    class's label text, so it is always a valid class (no looping generations).

    Parameters
    ----------
    tokenizer : VQTokenizer, optional
        How series become tokens; default :class:`vlmtsc.tokenizers.VQTokenizer`
        with its defaults (patches of 8 steps, 128 codes). Fitted in ``fit``.
    backbone : str or callable, default="smollm2-135m"
        A causal LM (alias, folder, ``.gguf``, hub id such as
        ``"openai-community/gpt2"``, or factory); see
        :func:`vlmtsc.backbones.load_backbone`.
    domain_description : str, optional
        What the series are, for the preface ("You will be receiving
        {domain_description}."); default ``"time series"``.
    label_names : dict or list of str, optional
        Text of each class (default ``str(label)``).
    fine_tuning : {"lora", "full"}, default="lora"
        LoRA adapters (with ``quantization``: QLoRA) or every weight.
    quantization : {None, "8bit", "4bit"}, default=None
    lora_r, lora_alpha, lora_dropout : int, int, float, default=8, 16, 0.05
    target_modules : list of str or str, optional
    head : {"lm", "linear"}, default="lm"
        Label scoring after fine-tuning, or logistic regression on the frozen
        model's mean hidden state over the prompt.
    features : {"hidden"} or None, default=None
        Embeddings of ``transform`` (the mean last hidden state).
    normalization : {None, "per_channel", "across_channels"}, default=None
        Applied before the tokenizer (which normalises again by its own rule).
    augmentation : SeriesAugmenter, optional
        Fresh jittered/scaled/window-sliced copies every epoch, re-tokenized.
    n_epochs : int, default=4
    batch_size : int, default=8
    gradient_accumulation_steps : int, default=1
    learning_rate : float, default=1e-3
    warmup_ratio : float, default=0.05
    validation_fraction : float, default=0.2
    validation_folds : int, optional
    mixed_precision : {"auto", "bf16", "no"}, default="auto"
    refit : bool, default=True
    device : str, default="cpu"
    random_state : int, default=0
    verbose : int, default=1

    Attributes
    ----------
    classes_ : ndarray
    label_names_ : list of str
    tokenizer_ : VQTokenizer
        Fitted on the training series.
    vocabulary_ : SeriesVocabulary
        The codebook tokens added to the language model.
    model_ : LabelScoringModel
    history_ : list of dict
    best_epoch_ : int

    References
    ----------
    .. [1] Cheng et al., "InstructTime: Advancing Time Series Classification with
       Multimodal Language Modeling" (seed 000).

    Examples
    --------
    >>> from vlmtsc import InstructTimeClassifier
    >>> from vlmtsc.testing import make_example_series
    >>> from vlmtsc.tokenizers import VQTokenizer
    >>> X, y = make_example_series(n_cases=8, n_timepoints=24)
    >>> clf = InstructTimeClassifier(
    ...     backbone="tiny-llama", n_epochs=1, verbose=0,
    ...     tokenizer=VQTokenizer(patch_length=4, n_epochs=2, verbose=0),
    ... ).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    >>> clf.prompt(X[:1])[0].split("\\n")[1][:16]
    'Signal: <BET><ts'
    """

    def __init__(
        self,
        tokenizer=None,
        backbone="smollm2-135m",
        domain_description=None,
        label_names=None,
        fine_tuning="lora",
        quantization=None,
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.05,
        target_modules=None,
        head="lm",
        features=None,
        normalization=None,
        augmentation=None,
        n_epochs=4,
        batch_size=8,
        gradient_accumulation_steps=1,
        learning_rate=1e-3,
        warmup_ratio=0.05,
        validation_fraction=0.2,
        validation_folds=None,
        mixed_precision="auto",
        refit=True,
        device="cpu",
        random_state=0,
        verbose=1,
    ):
        self.tokenizer = tokenizer
        self.backbone = backbone
        self.domain_description = domain_description
        self.label_names = label_names
        self.fine_tuning = fine_tuning
        self.quantization = quantization
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.target_modules = target_modules
        self.head = head
        self.features = features
        self.normalization = normalization
        self.augmentation = augmentation
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.learning_rate = learning_rate
        self.warmup_ratio = warmup_ratio
        self.validation_fraction = validation_fraction
        self.validation_folds = validation_folds
        self.mixed_precision = mixed_precision
        self.refit = refit
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _prepare_inputs(self, X, y, seed):
        from vlmtsc.adapters import SeriesVocabulary
        from vlmtsc.tokenizers import VQTokenizer

        if self.fine_tuning not in FINE_TUNING:
            raise ValueError(
                f"fine_tuning must be one of {FINE_TUNING}, got {self.fine_tuning!r}."
            )
        tokenizer = (
            clone(self.tokenizer) if self.tokenizer is not None else VQTokenizer()
        )
        if tokenizer.get_params().get("random_state") is None:
            tokenizer.set_params(random_state=seed)
        if self.tokenizer is None:
            tokenizer.set_params(verbose=self.verbose)
        # Unsupervised, on the training series only (its own validation split).
        self.tokenizer_ = tokenizer.fit(normalize_series(X, self.normalization))
        self.vocabulary_ = SeriesVocabulary({DOMAIN: self.tokenizer_.codebook_})

    def _backbone_preparation(self):
        return self.vocabulary_

    def _adapter(self):
        return "full" if self.fine_tuning == "full" else super()._adapter()

    def _prompts(self, X, labels=None) -> list[PromptExample]:
        tokens = self.tokenizer_.transform(normalize_series(X, self.normalization))
        description = self.domain_description or "time series"
        candidates = ", ".join(self.label_names_)
        names = dict(zip(self.classes_, self.label_names_, strict=True))
        return [
            PromptExample(
                f"You will be receiving {description}.\n"
                f"Signal: {self.vocabulary_.tokens(DOMAIN, codes)}\n"
                f"Candidate labels: {candidates}.\n"
                "Which label describes the signal?",
                None if labels is None else f" {names[labels[i]]}",
            )
            for i, codes in enumerate(tokens)
        ]

    def _examples(self, X, labels=None):
        return self.model_.encode(self._prompts(X, labels))

    def prompt(self, X) -> list[str]:
        """The prompt text the model reads for each series (no answer).

        Parameters
        ----------
        X : array-like or list of array-like

        Returns
        -------
        list of str
        """
        return [p.prompt for p in self._prompts(self._check_predict_X(X))]

    def generate(self, X, max_new_tokens: int = 32) -> list[str]:
        """Free-text answers (greedy decoding), e.g. to read an explanation.

        Predictions use label scoring instead; a generated answer need not be a
        class.

        Parameters
        ----------
        X : array-like or list of array-like
        max_new_tokens : int, default=32

        Returns
        -------
        list of str
        """
        return self.model_.generate(
            self._examples(self._check_predict_X(X)), max_new_tokens=max_new_tokens
        )
