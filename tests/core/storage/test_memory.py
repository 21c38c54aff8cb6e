"""The Store contract against MemoryStore."""

import pytest

from interlock_core.storage import MemoryStore, Store
from tests.core.storage.contract import StoreContract


class TestMemoryStore(StoreContract):
    """MemoryStore honours the Store contract."""

    @pytest.fixture
    def store(self) -> Store:
        return MemoryStore()
