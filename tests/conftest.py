import pytest

from official_configs import official_cfg_dir


@pytest.fixture(scope="session")
def cfg_dir():
    """Folder of the official Ultralytics 8.4.190 model YAMLs (downloaded once; see official_configs.py)."""
    return official_cfg_dir()
