"""Fixtures: local HTTP servers playing Slack and a signed-webhook receiver."""

from collections.abc import Callable, Iterator

import pytest

from tests.core.alerts.fakes import FakeServer, Recorded, Reply, slack_reply, webhook_reply


@pytest.fixture
def slack_server() -> Iterator[FakeServer]:
    server = FakeServer(slack_reply)
    yield server
    server.close()


@pytest.fixture
def webhook_server() -> Iterator[FakeServer]:
    server = FakeServer(webhook_reply)
    yield server
    server.close()


@pytest.fixture
def make_server() -> Iterator[Callable[[Callable[[FakeServer, Recorded], Reply]], FakeServer]]:
    """Extra servers (several receivers in one test)."""
    servers: list[FakeServer] = []

    def make(default: Callable[[FakeServer, Recorded], Reply]) -> FakeServer:
        server = FakeServer(default)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()
