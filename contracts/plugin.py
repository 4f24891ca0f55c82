"""pytest plugin: point the contract suites at any implementation of the API.

Registered through the ``pytest11`` entry point, so installing the kit makes
these options available in any pytest run.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("losant-contracts", "Losant API contract suites")
    group.addoption("--losant-base-url", default=None, help="base URL of the implementation under test")
    group.addoption("--losant-token", default=None, help="bearer token to test with")
    group.addoption("--losant-email", default=None, help="user email to log in with")
    group.addoption("--losant-password", default=None, help="user password to log in with")
