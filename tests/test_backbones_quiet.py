"""Warning hygiene: our use of transformers/peft/accelerate/bitsandbytes is current,
and the libraries' log lines show only to a user who asks for them."""

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from vlmtsc import TimeLlamaClassifier, VLMTimeSeriesClassifier
from vlmtsc.backbones import quiet_library_logs
from vlmtsc.testing import make_example_series

LIBRARIES = ("transformers", "peft", "accelerate", "bitsandbytes")
ROOT = Path(__file__).resolve().parents[1]


def _from_libraries(caught) -> list[str]:
    """The Future/DeprecationWarnings raised inside the four libraries."""
    return [
        f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})"
        for w in caught
        if issubclass(w.category, (FutureWarning, DeprecationWarning))
        and any(f"{os.sep}{lib}{os.sep}" in w.filename for lib in LIBRARIES)
    ]


@pytest.mark.parametrize(
    "estimator",
    [
        # LoRA on GPT-2 (Conv1D layers) and on Llama with 4-bit QLoRA, then
        # label scoring with the key/value cache; D-LoRA in Time-LlaMA.
        VLMTimeSeriesClassifier(backbone="tiny-gpt2", head="lm"),
        VLMTimeSeriesClassifier(backbone="tiny-llama", head="lm", quantization="4bit"),
        TimeLlamaClassifier(backbone="tiny-llama", n_layers=1, n_heads=4),
    ],
    ids=["lora-gpt2", "qlora-llama", "dlora-timellama"],
)
def test_fit_and_predict_raise_no_library_deprecation(estimator):
    X, y = make_example_series(n_cases=8, n_timepoints=16)
    estimator.set_params(n_epochs=1, validation_fraction=0.0, verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(X, y).predict_proba(X)
    assert _from_libraries(caught) == []
    # peft's "fan_in_fan_out is set to False" for GPT-2: the family says True.
    assert not [w for w in caught if "fan_in_fan_out" in str(w.message)]


def test_library_log_lines_show_only_with_verbose_and_info(caplog):
    noisy = logging.getLogger("kernels._internals.hf_hub")
    before = logging.getLogger("kernels").level
    with caplog.at_level(logging.WARNING), quiet_library_logs(verbose=1):
        noisy.warning("Skipping publisher trust check (hidden)")
    with caplog.at_level(logging.INFO), quiet_library_logs(verbose=0):
        noisy.warning("Skipping publisher trust check (hidden too)")
    assert caplog.records == []
    with caplog.at_level(logging.INFO), quiet_library_logs(verbose=1):
        noisy.warning("Skipping publisher trust check (asked for)")
    assert [r.getMessage() for r in caplog.records] == [
        "Skipping publisher trust check (asked for)"
    ]
    assert logging.getLogger("kernels").level == before
    # Other loggers are never touched.
    with caplog.at_level(logging.WARNING), quiet_library_logs(verbose=0):
        logging.getLogger("some.other.library").warning("kept")
    assert caplog.records[-1].getMessage() == "kept"


_FIRST_IMPORT = """
import logging, warnings
logging.basicConfig(level=logging.WARNING)
for category in (FutureWarning, DeprecationWarning):
    warnings.filterwarnings(
        "error", category=category,
        module=r"(transformers|peft|accelerate|bitsandbytes)(\\.|$)",
    )
from vlmtsc import VLMTimeSeriesClassifier
from vlmtsc.testing import make_example_series
X, y = make_example_series(n_cases=8, n_timepoints=16)
clf = VLMTimeSeriesClassifier(
    backbone="tiny-llama", head="lm", n_epochs=1, validation_fraction=0.0, verbose=0
)
clf.fit(X, y).predict_proba(X)
print("fitted")
"""


def test_a_fresh_process_prints_no_library_noise():
    # The kernels/bitsandbytes lines come once per process, at the first import
    # of peft: only a fresh process shows whether they are kept quiet.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_IMPORT],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fitted"
    for noise in ("publisher trust check", "kernels-community", "Warning"):
        assert noise not in done.stderr, done.stderr
