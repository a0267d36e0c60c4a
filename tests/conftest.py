import pytest
import torch

from official_configs import official_cfg_dir

# Tests check values, never speed: one intra-op thread avoids the spin-wait contention that makes small real
# forwards tens of times slower when the machine is busy (seen here: 0.4 s vs 5 s for yolov9e at 64x96).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def cfg_dir():
    """Folder of the official Ultralytics 8.4.190 model YAMLs (downloaded once; see official_configs.py)."""
    return official_cfg_dir()


@pytest.fixture(autouse=True)
def _no_timing_trust_warnings(monkeypatch):
    """This test machine is shared and busy, so real timings here spread widely and its load average is high: bench's
    trust warnings (archscope.measure.trust) would land in the notes and on stderr of whichever test happens to meet
    a noisy moment. They are off here; tests/test_trust.py restores the real checks and drives them with fakes."""
    from archscope.measure import trust

    monkeypatch.setattr(trust, "assess", lambda *args, **kwargs: [])


@pytest.fixture(autouse=True)
def _private_check_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own ``archscope check`` cache (XDG_CACHE_HOME): never the user's, never another test's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
