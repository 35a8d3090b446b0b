"""Shared test setup: nncli's CSV cache goes to a folder of the test session, never the user's cache directory."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def session_cache_directory(tmp_path_factory):
    """NNCLI_CACHE_DIR for every test and every process a test starts (tests may set their own)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NNCLI_CACHE_DIR", str(tmp_path_factory.mktemp("nncli-cache")))
        yield
