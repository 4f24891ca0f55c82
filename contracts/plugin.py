"""pytest plugin: point the contract suites at any implementation of the API.

Registered through the ``pytest11`` entry point, so installing the kit makes
these options available in any pytest run. Importing it must stay cheap (it
loads in every pytest run of the project): everything heavy is imported inside
the fixtures, and nothing happens unless a test asks for ``losant_target``.

Without ``--losant-base-url`` the suites run against a fresh mock built
in-process and reached through ASGI (the fast CI path).
"""

from __future__ import annotations

from typing import Any

import pytest

MARKERS = {
    "losant_suite(name)": "a test of the named contract suite (losant-contracts --suite NAME)",
    "losant_mock_only": "needs the kit's mock (its /_mock control API); skipped elsewhere",
    "losant_not_live_safe": "acts outside a sandbox application; skipped with --losant-live-safe",
    "losant_real_time": "waits real time on targets other than the mock; needs --losant-real-time",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("losant-contracts", "Losant API contract suites")
    group.addoption("--losant-base-url", default=None,
                    help="base URL of the implementation under test (default: an in-process mock)")
    group.addoption("--losant-token", default=None, help="bearer token to test with")
    group.addoption("--losant-email", default=None, help="user email to log in with")
    group.addoption("--losant-password", default=None, help="user password to log in with")
    group.addoption("--losant-other-token", default=None,
                    help="a second account's bearer token (cross-tenant checks)")
    group.addoption("--losant-other-email", default=None,
                    help="a second account's email (cross-tenant checks)")
    group.addoption("--losant-other-password", default=None,
                    help="a second account's password (cross-tenant checks)")
    group.addoption("--losant-strict-coverage", action="store_true", default=False,
                    help="fail the run when an operation, rule or credential state of a "
                         "suite that ran was exercised zero times")
    group.addoption("--losant-coverage-detail", action="store_true", default=False,
                    help="list every exercised item with its case count in the coverage table")
    group.addoption("--losant-coverage-quiet", action="store_true", default=False,
                    help="do not print the coverage table (losant-contracts prints its own)")
    group.addoption("--losant-live-safe", action="store_true", default=False,
                    help="touch only a sandbox application the run creates (or is given), "
                         "stay under rate limits, skip destructive and mock-only tests")
    group.addoption("--losant-application-id", default=None,
                    help="sandbox application to work in instead of creating one")
    group.addoption("--losant-seed", type=int, default=1,
                    help="seed of the in-process mock's world and of generated data")
    group.addoption("--losant-max-examples", type=int, default=None,
                    help="Hypothesis examples per property / Schemathesis operation "
                         "(default: each suite's own, tuned to finish in minutes)")
    group.addoption("--losant-real-time", action="store_true", default=False,
                    help="allow tests that wait real time (throttle windows) on non-mock targets")
    group.addoption("--losant-rate", type=float, default=4.0,
                    help="client-side requests per second against non-mock targets")
    group.addoption("--losant-app-factory", default=None,
                    help="module:callable returning the ASGI app to test in-process "
                         "(used by the kit's fault-injection tests)")


def pytest_configure(config: pytest.Config) -> None:
    for marker, text in MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: {text}")
    config.pluginmanager.register(_CoveragePlugin(config), "losant-coverage")


def _suite_of(nodeid: str) -> str | None:
    """The contract suite a test belongs to (its module's stem), or None."""
    from pathlib import PurePath

    from losant_kit.contracts.suites import SUITES

    parts = PurePath(nodeid.split("::", 1)[0])
    return parts.stem if parts.stem in SUITES and parts.parent.name == "suites" else None


class _CoveragePlugin:
    """Sums what the suites exercised and prints the coverage table at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tally: Any = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        suite = _suite_of(report.nodeid)
        if suite is None or report.when != "teardown":
            return  # the teardown report carries all of a test's user_properties
        if self.tally is None:
            from losant_kit.contracts.coverage import Tally

            self.tally = Tally()
        self.tally.add_report(suite, report.user_properties)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.tally is None or hasattr(self.config, "workerinput") \
                or self.config.getoption("losant_coverage_quiet"):
            return
        terminalreporter.write_line("")
        terminalreporter.write_line(
            self.tally.table(detail=self.config.getoption("losant_coverage_detail")))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if (self.tally is None or hasattr(self.config, "workerinput")
                or not self.config.getoption("losant_strict_coverage")):
            return
        if self.tally.unexercised and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _options(config: pytest.Config) -> Any:
    from losant_kit.contracts.target import Options

    get = config.getoption
    return Options(
        base_url=get("losant_base_url"), token=get("losant_token"), email=get("losant_email"),
        password=get("losant_password"), live_safe=get("losant_live_safe"),
        application_id=get("losant_application_id"), seed=get("losant_seed"),
        app_factory=get("losant_app_factory"), max_examples=get("losant_max_examples"),
        real_time=get("losant_real_time"), rate=get("losant_rate"),
        other_token=get("losant_other_token"), other_email=get("losant_other_email"),
        other_password=get("losant_other_password"),
    )


@pytest.fixture(scope="session")
def losant_target(request: pytest.FixtureRequest) -> Any:
    """The implementation under test: base URL, authenticated client, is-it-the-mock,
    live-safe flag and sandbox application id (see contracts.target.Target)."""
    from losant_kit.contracts.target import TargetError, open_target

    try:
        target = open_target(_options(request.config))
    except TargetError as exc:
        pytest.exit(f"losant-contracts: {exc}", returncode=4)
    request.addfinalizer(target.close)
    return target


@pytest.fixture
def losant_coverage(request: pytest.FixtureRequest) -> Any:
    """Record what this test exercised (``.hit(kind, item, cases)``) for the coverage table."""
    from losant_kit.contracts.coverage import Recorder

    suite = _suite_of(request.node.nodeid) or "other"
    return Recorder(suite, request.node.user_properties)


@pytest.fixture
def losant_api(losant_target: Any) -> Any:
    """The target's authenticated client (contracts.client.ApiClient)."""
    return losant_target.api


def examples(config: pytest.Config, default: int) -> int:
    """Examples per property: the suite's default unless --losant-max-examples says otherwise."""
    chosen = config.getoption("losant_max_examples", default=None)
    return chosen if chosen else default


@pytest.fixture(autouse=True)
def _losant_requirements(request: pytest.FixtureRequest) -> None:
    """Skip contract tests the target or the mode does not allow (cheap for other tests)."""
    node = request.node
    mock_only = node.get_closest_marker("losant_mock_only")
    not_live_safe = node.get_closest_marker("losant_not_live_safe")
    real_time = node.get_closest_marker("losant_real_time")
    if not (mock_only or not_live_safe or real_time):
        return
    target = request.getfixturevalue("losant_target")
    if not_live_safe and target.live_safe:
        pytest.skip("acts outside the sandbox application; not run with --losant-live-safe")
    if mock_only and not target.is_mock:
        pytest.skip("needs the kit's mock (/_mock control API)")
    if real_time and not target.is_mock and not request.config.getoption("losant_real_time"):
        pytest.skip("waits real time on this target; pass --losant-real-time to run it")
