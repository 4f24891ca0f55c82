"""The pytest plugin object the Ioto suites get their target from."""

from __future__ import annotations

from typing import Any

import pytest

from losant_kit.contracts.ioto.target import IotoOptions, IotoTargetError, open_ioto_target


class IotoPlugin:
    def __init__(self, options: IotoOptions) -> None:
        self.options = options

    @pytest.fixture(scope="session")
    def ioto_target(self, request: pytest.FixtureRequest) -> Any:
        try:
            target = open_ioto_target(self.options)
        except IotoTargetError as exc:
            pytest.exit(f"losant-contracts: {exc}", returncode=4)
        request.addfinalizer(target.close)
        return target

    @pytest.fixture
    def ioto(self, ioto_target: Any) -> Any:
        """The target, reset to its world first when it is the mock (tests stay independent)."""
        ioto_target.reset()
        return ioto_target

    @pytest.fixture(scope="session")
    def ioto_examples(self) -> int | None:
        return self.options.max_examples
