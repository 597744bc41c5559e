"""Shared test setup: the smoke preset, a private cache per session, one thread, and small reusable fixtures."""

import os

import pytest

os.environ.setdefault("PTMLAB_PRESET", "smoke")
os.environ.setdefault("PTMLAB_THREADS", "2")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    home = tmp_path_factory.mktemp("ptmlab_home")
    old = os.environ.get("PTMLAB_HOME")
    if not os.environ.get("PTMLAB_TEST_KEEP_HOME"):
        _bring_fetched_data(home)
        os.environ["PTMLAB_HOME"] = str(home)
    yield
    if old is not None:
        os.environ["PTMLAB_HOME"] = old


def _bring_fetched_data(home):
    """The data `ptmlab fetch` put in the user's cache (make test runs it) is read-only input: copy it in."""
    import shutil

    from ptmlab import runtime

    fetched = runtime.home() / "data"
    if fetched.is_dir():
        shutil.copytree(fetched, home / "data", dirs_exist_ok=True)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models train fastest on one thread, and a shared 2-core machine stays usable (no oversubscription).

    Test modules opt in with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def tiny_config():
    from ptmlab.models.transformer import TransformerConfig

    return TransformerConfig(vocab_size=60, max_len=16, d_model=32, n_layers=2, n_heads=4, dropout=0.0)


@pytest.fixture
def tiny_blocks():
    """[64, 16] blocks of ids with [CLS]=2 / [SEP]=3 at the ends and a learnable pattern (token i+1 = token i + 1)."""
    import torch

    g = torch.Generator().manual_seed(0)
    start = torch.randint(5, 40, (64, 1), generator=g)
    body = (start + torch.arange(14)) % 55 + 5
    return torch.cat([torch.full((64, 1), 2), body, torch.full((64, 1), 3)], dim=1)
