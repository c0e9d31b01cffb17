"""Saving fitted estimators to folders that load without unpickling.

A saved folder holds

- ``estimator.skops``: the estimator's state (parameters, numpy arrays,
  scikit-learn heads, renderers, prompts, tokenizers) in skops' format, which
  stores data, never code to run on load;
- ``<prefix>-N.safetensors``: every torch tensor the state holds (trained
  networks, codebooks, fully fine-tuned weights), and ``adapter-N/`` folders:
  LoRA adapters in peft's own format (safetensors), loadable with peft alone;
- ``manifest.json``: the format version, the estimator's class, the versions of
  the libraries that wrote it, and the sha256 of every file.

:func:`load` checks the manifest and every checksum, accepts only the types it
knows (the classes of vlmtsc and scikit-learn, transformers' model
configurations, and the numpy/scipy data and containers skops trusts; more with
``trusted=``), and reads no pickle. Plain :mod:`pickle`/joblib keep working
too: outside :func:`save`/:func:`load` the tensors simply stay inside the
pickled state.

Folders are written atomically (:func:`write_folder`, also used for the
``pretrain()`` artifacts): into a hidden temporary sibling that replaces the
target only when complete, so Ctrl-C or SIGTERM during a write leaves the
previous folder (or nothing) and no partial files.

Components that hold torch weights take part through hooks in their
``__getstate__``/``__setstate__``: :func:`store_tensors` and
:func:`restore_tensors` (or :func:`module_state` and
:func:`module_from_state` for a whole network), and :func:`save_folder` /
:func:`load_directory` for weights kept in their library's folder format.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any
from zipfile import ZIP_DEFLATED

__all__ = [
    "FORMAT_VERSION",
    "SavedTensors",
    "VersionMismatchWarning",
    "load",
    "load_directory",
    "module_from_state",
    "module_state",
    "restore_tensors",
    "save",
    "save_folder",
    "saving_to",
    "store_tensors",
    "write_folder",
    "write_once",
]

FORMAT = "vlmtsc"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATE = "estimator.skops"
LEGACY_STATE = "estimator.pkl"  # folders written before FORMAT_VERSION 1
# Top-level names that mark a folder vlmtsc wrote before it had manifests (a
# save's vlmtsc.json and estimator.pkl, the pretrain() records): such a folder
# may be replaced by a new write; any other non-empty folder is left alone.
_LEGACY_MARKERS = ("vlmtsc.json", LEGACY_STATE, "vlmtsc_*.json")
# The libraries whose versions shape a saved state; a mismatch on load warns.
_PACKAGES = (
    "vlmtsc",
    "numpy",
    "scikit-learn",
    "skops",
    "torch",
    "transformers",
    "peft",
    "safetensors",
)
# Types skops does not trust by default that load accepts besides the classes
# of vlmtsc and scikit-learn and transformers' configurations (see _is_known).
_KNOWN_TYPES = frozenset({"numpy.dtype"})


class VersionMismatchWarning(UserWarning):
    """A folder was saved with other library versions than the ones installed."""


# --------------------------------------------------------------------- sessions
@dataclass
class _Session:
    root: Path
    loading: bool
    files: frozenset[str] | None = None  # the manifest's files, when loading
    counts: dict[str, int] = field(default_factory=dict)
    # What was written so far. skops asks an object for its state twice (once
    # through __reduce__), so the same weights come twice and are written once.
    stored: list[tuple[str, dict]] = field(default_factory=list)
    folders: dict[int, tuple[Any, str]] = field(default_factory=dict)

    def fresh_name(self, prefix: str, suffix: str = "") -> str:
        n = self.counts.get(prefix, 0)
        self.counts[prefix] = n + 1
        return f"{prefix}-{n}{suffix}"

    def path_of(self, name: str, *, folder: bool = False) -> Path:
        """``root / name`` for a name read from the state, after checking it.

        The state is data from the folder: a name must stay inside the folder
        and its files must be listed (so checksummed) in the manifest.
        """
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
            raise ValueError(
                f"The saved state references {name!r}, which is not a file inside "
                "the saved folder; the folder is corrupt or was tampered with."
            )
        if self.files is not None:
            listed = any(
                f == name or (folder and f.startswith(f"{name}/")) for f in self.files
            )
            if not listed:
                raise ValueError(
                    f"The saved state references {name!r}, which the folder's "
                    f"{MANIFEST} does not list; the folder is corrupt or was "
                    "tampered with. Save the estimator again."
                )
        return self.root / name


_SESSION: ContextVar[_Session | None] = ContextVar("vlmtsc_persistence", default=None)


@contextlib.contextmanager
def saving_to(
    directory: str | Path,
    *,
    loading: bool = False,
    files: Sequence[str] | None = None,
) -> Iterator[None]:
    """Let weight-holding components write (or read) their tensors under ``directory``.

    Inside this context, :func:`store_tensors`, :func:`save_folder` and their
    loading counterparts refer to files in ``directory``; outside it, states keep
    their tensors in memory (plain pickle, joblib, ``clone``, ``deepcopy``).

    Parameters
    ----------
    directory : str or Path
        The folder being written or read.
    loading : bool, default=False
        Whether the state is being read (else written).
    files : sequence of str, optional
        When loading, the files the manifest lists; a state may reference only
        those.
    """
    session = _Session(
        Path(directory), loading, None if files is None else frozenset(files)
    )
    token = _SESSION.set(session)
    try:
        yield
    finally:
        _SESSION.reset(token)


def save_folder(prefix: str, owner: Any, write: Callable[[Path], Any]) -> str | None:
    """During a save: ``write(folder)`` into a fresh sub-folder, once per ``owner``.

    For components whose weights are best kept in their library's own folder
    format (peft adapters). Returns the sub-folder's name for the state (read it
    back with :func:`load_directory`), or ``None`` outside a save.
    """
    session = _SESSION.get()
    if session is None or session.loading:
        return None
    if id(owner) in session.folders:
        return session.folders[id(owner)][1]
    name = session.fresh_name(prefix)
    write(session.root / name)
    session.folders[id(owner)] = (owner, name)  # owner kept alive: ids stay unique
    return name


def _loading(name: str) -> _Session:
    """The session of the load that reads ``name``; outside one, a clear error."""
    session = _SESSION.get()
    if session is None or not session.loading:
        raise RuntimeError(
            f"This state references {name!r} in a saved folder; load it with "
            "vlmtsc.persistence.load(path) (or the estimator's .load(path)), not "
            "with pickle."
        )
    return session


def load_directory(name: str) -> Path:
    """During a load: the checked path of the saved sub-folder ``name``."""
    return _loading(name).path_of(name, folder=True)


@dataclass
class SavedTensors:
    """Reference to tensors written by :func:`store_tensors` during a save."""

    file: str


def store_tensors(
    prefix: str, tensors: dict[str, Any]
) -> dict[str, Any] | SavedTensors:
    """Take ``{name: tensor}`` out of a state being saved.

    During :func:`save` the tensors go to ``<prefix>-N.safetensors`` in the
    folder and a small :class:`SavedTensors` reference takes their place;
    otherwise (pickle, joblib, ``clone``, ``deepcopy``) the CPU tensors are
    returned as they are.

    Parameters
    ----------
    prefix : str
        Names the file, e.g. ``"model"``.
    tensors : dict of str to torch.Tensor

    Returns
    -------
    dict or SavedTensors
        Pass it to :func:`restore_tensors` in ``__setstate__``.
    """
    tensors = {name: value.detach().cpu() for name, value in tensors.items()}
    session = _SESSION.get()
    if session is None or session.loading or not tensors:
        return tensors
    for name, earlier in session.stored:
        if _same_tensors(earlier, tensors):
            return SavedTensors(name)
    from safetensors.torch import save_file

    name = session.fresh_name(prefix, ".safetensors")
    save_file(_unshared(tensors), session.root / name)
    session.stored.append((name, tensors))
    return SavedTensors(name)


def _same_tensors(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import torch

    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype
        and a[k].shape == b[k].shape
        and torch.equal(a[k], b[k])
        for k in a
    )


def _unshared(tensors: dict[str, Any]) -> dict[str, Any]:
    """Contiguous tensors with their own storage (safetensors refuses shared ones)."""
    seen, result = set(), {}
    for name, tensor in tensors.items():
        tensor = tensor.contiguous()
        key = (tensor.untyped_storage().data_ptr(), tensor.device.type)
        if tensor.numel() and key in seen:
            tensor = tensor.clone()  # tied weights are stored once per name
        seen.add(key)
        result[name] = tensor
    return result


def restore_tensors(stored: dict[str, Any] | SavedTensors) -> dict[str, Any]:
    """The ``{name: tensor}`` that :func:`store_tensors` took out of a state."""
    if not isinstance(stored, SavedTensors):
        return stored
    from safetensors.torch import load_file

    return load_file(_loading(stored.file).path_of(stored.file), device="cpu")


def module_state(module: Any, config: Any, prefix: str = "model") -> dict[str, Any]:
    """A torch module as picklable data: ``{"config", "weights"}``.

    The weights go through :func:`store_tensors`; :func:`module_from_state`
    rebuilds the module. For ``__getstate__`` of components holding a network
    whose class is built from ``config``.
    """
    return {"config": config, "weights": store_tensors(prefix, module.state_dict())}


def module_from_state(
    state: dict[str, Any], build: Callable[[Any], Any], device: str
) -> tuple[Any, str]:
    """``(module in eval mode, device)`` from :func:`module_state`.

    ``build(config)`` makes the untrained module; it moves to ``device``, or to
    the CPU where a CUDA device is not available (a model saved on a GPU).
    """
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        device = "cpu"
    module = build(state["config"])
    module.load_state_dict(restore_tensors(state["weights"]))
    return module.to(device).eval(), device


# ------------------------------------------------------------- atomic folders
class _Terminated(BaseException):
    """SIGTERM arrived while a folder was being written (default action)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class _SignalGuard:
    """Lets Ctrl-C and SIGTERM interrupt a folder write only where it can clean up.

    While writing, SIGINT keeps its handler (KeyboardInterrupt) and SIGTERM,
    whose default action kills the process on the spot, raises
    :class:`_Terminated` so that cleanup runs; the signal is then delivered
    again with its own handler restored, so the process still ends by it.
    Inside :meth:`deferred` (moving the folder into place, removing the
    temporary one) both signals wait until the step is done.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.previous: dict[int, Any] = {}
        self.pending: list[int] = []
        self.deferring = False

    def __enter__(self):
        # Python runs signal handlers in the main thread only.
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                previous = signal.getsignal(signum)
                if previous in (signal.SIG_IGN, None):
                    continue
                self.previous[signum] = previous
                signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.deferring:
            self.pending.append(signum)
            return
        previous = self.previous[signum]
        if callable(previous):  # e.g. Python's KeyboardInterrupt for SIGINT
            previous(signum, frame)
        else:
            raise _Terminated(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        deferring, self.deferring = self.deferring, True
        try:
            yield
        finally:
            self.deferring = deferring

    def __exit__(self, kind, error, traceback):
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
        signals = list(self.pending)
        if isinstance(error, _Terminated):
            signals.insert(0, error.signum)
        for signum in dict.fromkeys(signals):
            signal.raise_signal(signum)  # its own handler now: usually the end
        if isinstance(error, _Terminated):
            raise SystemExit(128 + error.signum) from None
        return False


def _is_ours(folder: Path) -> bool:
    """Whether ``folder`` is empty or was written by vlmtsc (so may be replaced)."""
    names = [p.name for p in folder.iterdir()]
    if not names:
        return True
    manifest = folder / MANIFEST
    if manifest.is_file():
        try:
            return json.loads(manifest.read_text()).get("format") == FORMAT
        except (ValueError, OSError, AttributeError):
            return False
    return any(any(folder.glob(marker)) for marker in _LEGACY_MARKERS)


def _check_replaceable(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        raise FileExistsError(
            f"{path} exists and is not a folder; pass a new folder path (vlmtsc "
            "writes a folder of files)."
        )
    if not _is_ours(path):
        example = sorted(p.name for p in path.iterdir())[:3]
        raise FileExistsError(
            f"{path} is a folder that vlmtsc did not write (it holds {example}...); "
            "writing replaces the whole folder, so vlmtsc leaves it alone. Pass a "
            "new path or an empty folder."
        )


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str | None]:
    from vlmtsc._version import __version__

    found = {}
    for package in _PACKAGES:
        try:
            found[package] = (
                __version__ if package == "vlmtsc" else metadata.version(package)
            )
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def _write_manifest(folder: Path, record: dict) -> None:
    files = sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
    )
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **record,
        "versions": _versions(),
        "files": {name: _sha256(folder / name) for name in files},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _swap_into_place(staging: Path, path: Path) -> None:
    if not path.exists():
        os.rename(staging, path)
        return
    # POSIX renames onto empty folders only: move the old one aside first.
    old = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.replaced"
    os.rename(path, old)
    try:
        os.rename(staging, path)
    except BaseException:
        os.rename(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _atomic_folder(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` that replaces it on success, else vanishes."""
    path = Path(os.path.abspath(path))
    _check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _SignalGuard() as guard:
        with guard.deferred():
            staging = Path(
                tempfile.mkdtemp(
                    prefix=f".{path.name}.", suffix=".partial", dir=path.parent
                )
            )
        try:
            yield staging
            with guard.deferred():
                _swap_into_place(staging, path)
        finally:
            with guard.deferred():
                shutil.rmtree(staging, ignore_errors=True)


def write_once(write) -> None:
    """Call ``write()`` once per run: on the main process of a launched run.

    Every process of a data-parallel run holds the same trained model, so files
    (a pre-training artifact, a saved classifier) are written by the main
    process only, while the others wait at a barrier until they exist. In a
    plain single-process run ``write()`` is simply called.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        write()
        return
    if dist.get_rank() == 0:
        write()
    dist.barrier()


def write_folder(
    path: str | Path, write: Callable[[Path], Any], *, record: dict | None = None
) -> Path:
    """Write a folder atomically, once per (data-parallel) run.

    ``write(folder)`` fills a temporary sibling of ``path``; a ``manifest.json``
    (``record``, library versions, sha256 of every file) is added and the folder
    then replaces ``path``. If ``write`` fails or the process gets Ctrl-C or
    SIGTERM, the temporary folder is removed and ``path`` keeps its previous
    content (or does not exist). An existing ``path`` is replaced only when it
    is empty or written by vlmtsc. In a launched multi-process run only the main
    process writes; the others wait until it is done.

    Parameters
    ----------
    path : str or Path
        The folder to create or replace.
    write : callable
        ``write(folder)`` writes the files into ``folder``.
    record : dict, optional
        More fields for the manifest (``{"kind": "artifact"}`` by default).

    Returns
    -------
    Path
    """

    path = Path(path)

    def write_atomically():
        with _atomic_folder(path) as folder:
            write(folder)
            _write_manifest(folder, record or {"kind": "artifact"})

    write_once(write_atomically)
    return path


# ------------------------------------------------------------- save and load
def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


_TORCH_HINT = (
    "A component holding torch tensors or modules must pass its tensors through "
    "vlmtsc.persistence.store_tensors in __getstate__."
)


def save(estimator: Any, path: str | Path) -> Path:
    """Write a fitted estimator to the folder ``path``, without pickle.

    Parameters
    ----------
    estimator : estimator
        A fitted vlmtsc estimator (classifier, :class:`VLMFeatureExtractor`,
        :class:`~vlmtsc.tokenizers.VQTokenizer`, ...) or a scikit-learn object
        holding them.
    path : str or Path
        The folder to create (or to replace, if vlmtsc wrote it).

    Returns
    -------
    Path

    See Also
    --------
    load : read it back.

    Examples
    --------
    >>> import tempfile
    >>> from vlmtsc import persistence
    >>> from vlmtsc.tokenizers import VQTokenizer
    >>> from vlmtsc.testing import make_example_series
    >>> X, _ = make_example_series(8)
    >>> tokenizer = VQTokenizer(patch_length=5, codebook_size=4, embedding_dim=4,
    ...     hidden_size=4, n_blocks=1, n_epochs=1, verbose=0).fit(X)
    >>> folder = persistence.save(tokenizer, tempfile.mkdtemp() + "/tokenizer")
    >>> sorted(p.name for p in folder.iterdir())
    ['estimator.skops', 'manifest.json', 'tokenizer-0.safetensors']
    >>> bool((persistence.load(folder).transform(X) == tokenizer.transform(X)).all())
    True
    """
    import skops.io

    def write(folder: Path) -> None:
        with saving_to(folder):
            try:
                # Deflate: skops' JSON schema shrinks ~10x.
                skops.io.dump(estimator, folder / STATE, compression=ZIP_DEFLATED)
            except Exception as error:
                raise TypeError(
                    f"This {type(estimator).__name__} holds a value that skops "
                    f"cannot store ({type(error).__name__}: {error}), so it cannot "
                    f"be saved without pickle. {_TORCH_HINT} Otherwise pickle it "
                    "(pickle or joblib), and load such files only from sources you "
                    "trust."
                ) from error
        torch_types = [
            t
            for t in skops.io.get_untrusted_types(file=folder / STATE)
            if t.split(".")[0] == "torch"
        ]
        if torch_types:
            raise TypeError(
                f"{type(estimator).__name__} holds torch objects {torch_types} that "
                f"only pickle can store. {_TORCH_HINT}"
            )

    return write_folder(
        path,
        write,
        record={
            "kind": "estimator",
            "class": _qualified_name(type(estimator)),
            "state": STATE,
        },
    )


def _is_known(type_name: str) -> bool:
    """Whether ``load`` trusts ``type_name`` without the user's say-so.

    Besides :data:`_KNOWN_TYPES`: the classes of vlmtsc and scikit-learn
    (rebuilt from their attributes, as skops does for the estimators it
    trusts), and transformers' model configurations (data a network is rebuilt
    from). Not functions: a state could arrange for one to be called.
    """
    if type_name in _KNOWN_TYPES:
        return True
    module_name, _, attribute = type_name.rpartition(".")
    library = module_name.split(".")[0]
    if library not in ("vlmtsc", "sklearn", "transformers"):
        return False
    import importlib
    import inspect

    try:
        obj = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        return False
    if not inspect.isclass(obj):
        return False
    if library == "transformers":
        from transformers import PretrainedConfig

        return issubclass(obj, PretrainedConfig)
    return True


def _read_manifest(path: Path, allow_pickle: bool) -> dict | None:
    """The checked manifest, or ``None`` for a legacy folder (when allowed)."""
    if not path.is_dir():
        raise FileNotFoundError(
            f"{path} is not a folder; pass a folder written by save(path)."
        )
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        if (path / LEGACY_STATE).is_file():
            if allow_pickle:
                return None
            raise ValueError(
                f"{path} was saved by an older vlmtsc as a pickle ({LEGACY_STATE}), "
                "and loading a pickle can run any code it contains. If you trust "
                "where the folder comes from, load it with allow_pickle=True, then "
                "save it again to get a folder that loads without pickle."
            )
        raise FileNotFoundError(
            f"{path} holds no {MANIFEST}; it is not a folder written by vlmtsc's "
            "save(path) (or its writing was interrupted)."
        )
    try:
        manifest = json.loads(manifest_file.read_text())
    except ValueError as error:
        raise ValueError(
            f"{manifest_file} is not valid JSON ({error}); the folder is corrupt. "
            "Save the estimator again."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(
            f"{manifest_file} is not a vlmtsc manifest; pass a folder written by "
            "vlmtsc's save(path)."
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was saved in format version {version!r}, newer than this "
            f"vlmtsc reads ({FORMAT_VERSION}); upgrade vlmtsc to load it."
        )
    if manifest.get("kind") != "estimator":
        raise ValueError(
            f"{path} holds a vlmtsc {manifest.get('kind')!r}, not a saved "
            "estimator; a pre-training artifact is passed as backbone=path."
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or STATE not in files:
        raise ValueError(f"{manifest_file} lists no {STATE}; the folder is corrupt.")
    for name, digest in files.items():
        file = path / name
        if not file.is_file():
            raise FileNotFoundError(
                f"{path} lacks {name}, which its {MANIFEST} lists; the folder is "
                "incomplete. Copy it again or save the estimator again."
            )
        if _sha256(file) != digest:
            raise ValueError(
                f"{file} does not match the sha256 in {MANIFEST}: the file was "
                "changed or corrupted after saving. Copy the folder again or save "
                "the estimator again."
            )
    return manifest


def _release(version: Any) -> Any:
    """``"2.13.0"`` for ``"2.13.0+cu121"``: CPU and CUDA builds of one release
    hold the same code, and a model is often saved on a GPU and used on a CPU."""
    return version.split("+")[0] if isinstance(version, str) else version


def _warn_versions(path: Path, saved: dict) -> None:
    here = _versions()
    differing = [
        f"{package} {saved[package]} (saved) vs {here.get(package)} (installed)"
        for package in saved
        if _release(saved[package]) != _release(here.get(package))
    ]
    if differing:
        warnings.warn(
            f"{path} was saved with other library versions: {'; '.join(differing)}. "
            "It may load or predict differently; re-fit with the installed versions "
            "if results matter.",
            VersionMismatchWarning,
            stacklevel=3,
        )


def load(
    path: str | Path,
    *,
    trusted: Sequence[str] | None = None,
    allow_pickle: bool = False,
) -> Any:
    """Read an estimator written by :func:`save`, without unpickling.

    Every file is checked against the sha256 in ``manifest.json``; the state
    may hold only types vlmtsc knows (the classes of vlmtsc and scikit-learn,
    transformers' model configurations, and what skops trusts: numpy and scipy
    data, Python containers) and those listed in ``trusted``: no function. The frozen
    backbones of the language-model estimators are rebuilt from their
    ``backbone`` spec, which must resolve where the folder is loaded.

    Parameters
    ----------
    path : str or Path
        A folder written by :func:`save`.
    trusted : sequence of str, optional
        More type names to accept (e.g. the module path of your own backbone
        factory), after you have checked the folder's source.
    allow_pickle : bool, default=False
        Also read a folder that an older vlmtsc saved as a pickle
        (``estimator.pkl``). Unpickling can run any code the file contains:
        only for folders you trust; save the loaded estimator again to convert.

    Returns
    -------
    estimator

    Raises
    ------
    FileNotFoundError
        For a missing folder, or one vlmtsc did not write.
    ValueError
        For a corrupt or tampered folder, or a newer format.
    TypeError
        For a state holding a type that is not trusted.

    Warns
    -----
    VersionMismatchWarning
        When the library versions differ from those that saved the folder.
    """
    path = Path(path)
    manifest = _read_manifest(path, allow_pickle)
    if manifest is None:
        import pickle

        with saving_to(path, loading=True), open(path / LEGACY_STATE, "rb") as f:
            return pickle.load(f)
    _warn_versions(path, manifest.get("versions") or {})
    import skops.io

    state_file = path / STATE
    untrusted = skops.io.get_untrusted_types(file=state_file)
    allowed = set(trusted or ())
    refused = [t for t in untrusted if t not in allowed and not _is_known(t)]
    if refused:
        raise TypeError(
            f"{state_file} holds types that vlmtsc does not load unasked: "
            f"{refused}. If you trust where the folder comes from, pass "
            f"trusted={refused!r} to load."
        )
    with saving_to(path, loading=True, files=list(manifest["files"])):
        return skops.io.load(state_file, trusted=untrusted)
