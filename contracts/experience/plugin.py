"""pytest plugin of the experience suite: options in, the target as a fixture.

Loaded explicitly (``-p losant_kit.contracts.experience.plugin``) by
``losant-contracts experience``; it is not an entry point, so ordinary pytest
runs never see its options.
"""

from __future__ import annotations

from typing import Any

import pytest

OPTIONS = ("spec", "base_url", "email", "password", "other_email", "other_password",
           "app_factory", "platform_email", "platform_password")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("losant-experience", "Experience API contract suite")
    for name in OPTIONS:
        group.addoption(f"--exp-{name.replace('_', '-')}", dest=f"exp_{name}", default=None)
    group.addoption("--exp-live-safe", dest="exp_live_safe", action="store_true", default=False)
    group.addoption("--exp-allow-unsafe", dest="exp_allow_unsafe", action="store_true",
                    default=False)
    group.addoption("--exp-rate", dest="exp_rate", type=float, default=None)
    group.addoption("--exp-seed", dest="exp_seed", type=int, default=1)
    group.addoption("--exp-max-examples", dest="exp_max_examples", type=int, default=None)


def _options(config: pytest.Config) -> Any:
    from losant_kit.contracts.experience.target import DEFAULT_RATE, ExperienceOptions

    values = {name: config.getoption(f"exp_{name}") for name in OPTIONS}
    return ExperienceOptions(
        **values, live_safe=config.getoption("exp_live_safe"),
        allow_unsafe=config.getoption("exp_allow_unsafe"),
        rate=config.getoption("exp_rate") or DEFAULT_RATE, seed=config.getoption("exp_seed"),
        max_examples=config.getoption("exp_max_examples"))


@pytest.fixture(scope="session")
def experience_target(request: pytest.FixtureRequest) -> Any:
    """The experience under test (contracts.experience.target.ExperienceTarget)."""
    from losant_kit.contracts.experience.target import ExperienceTargetError, open_experience

    try:
        target = open_experience(_options(request.config))
    except ExperienceTargetError as exc:
        pytest.exit(f"losant-contracts experience: {exc}", returncode=4)
    request.addfinalizer(target.close)
    return target


@pytest.fixture(scope="session")
def experience_schema(experience_target: Any, request: pytest.FixtureRequest) -> Any:
    from losant_kit.contracts.experience.fuzzing import build_schema

    return build_schema(experience_target, max_examples=examples(request.config))


def examples(config: pytest.Config, default: int = 10) -> int:
    return config.getoption("exp_max_examples") or default


def _api(config: pytest.Config) -> Any:
    from losant_kit.mockserver.experience.apifile import load_api_file

    spec = config.getoption("exp_spec", default=None)
    if not spec:
        return None
    try:
        return load_api_file(spec)
    except ValueError:
        return None  # the session fixture reports it (and exits 4)


#: What a test is parametrized over (marker ``exp_over(NAME)``), from the file.
SELECTIONS = {
    "operations": lambda op: True,
    "secured": lambda op: op.access != "public",
    "device": lambda op: "{deviceId}" in op.route,
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize over the file given this run (never at import: one process may run
    the suite on several files)."""
    api = _api(metafunc.config)
    if "exp_operation" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("exp_over")
        chosen = SELECTIONS[marker.args[0] if marker else "operations"]
        ids = [op.operation_id for op in api.operations.values() if chosen(op)] if api else []
        metafunc.parametrize("exp_operation", ids)
    if "exp_link" in metafunc.fixturenames:
        from losant_kit.contracts.experience.links import declared_links

        links = declared_links(api) if api else []
        metafunc.parametrize("exp_link", links, ids=[link.name for link in links])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "exp_over(name): what an experience test runs over")
