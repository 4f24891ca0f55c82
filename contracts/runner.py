"""Run selected suites through pytest and sum up what happened.

Used by the ``losant-contracts`` CLI and by the kit's own tests (the fault
injection tests run a suite against a broken mock and read the result).
Everything goes through ``pytest.main`` on the installed suite modules, so a
suite behaves the same here as under plain ``pytest --pyargs losant_kit.contracts.suites.X``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from losant_kit.contracts.coverage import Tally
from losant_kit.contracts.suites import SUITES, module_of
from losant_kit.contracts.target import Options


@dataclass
class Failure:
    nodeid: str
    message: str

    @property
    def curl(self) -> str | None:
        """The first curl command in the failure text (how to reproduce it)."""
        for line in self.message.splitlines():
            found = re.search(r"(curl\s+-X\s+.*)$", line.strip())
            if found:
                return found.group(1)
        return None


@dataclass
class SuiteResult:
    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    skip_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failed == 0


@dataclass
class RunResult:
    exit_code: int
    suites: dict[str, SuiteResult]
    seconds: float
    cases: int = 0  # Schemathesis cases of the conformance suite
    coverage: Any = None  # contracts.coverage.Tally
    strict_coverage: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def failures(self) -> list[Failure]:
        return [f for s in self.suites.values() for f in s.failures]

    def summary(self) -> str:
        lines = [""]
        if self.coverage is not None and self.coverage.suites:
            lines += [self.coverage.table(), ""]
        lines += ["losant-contracts summary", "-" * 60]
        width = max([12, *(len(suite.name) for suite in self.suites.values())])
        for suite in self.suites.values():
            state = "PASS" if suite.ok and suite.passed else ("FAIL" if not suite.ok else "SKIP")
            lines.append(f"{state:5} {suite.name:{width}} {suite.passed:4} passed  "
                         f"{suite.failed:3} failed  {suite.skipped:3} skipped")
            for reason, count in sorted(suite.skip_reasons.items()):
                lines.append(f"        skipped {count}: {reason}")
        rate = f", {self.cases} conformance cases ({self.cases / self.seconds:.1f}/s)" \
            if self.cases else ""
        lines.append("-" * 60)
        lines.append(f"{'PASSED' if self.ok else 'FAILED'} in {self.seconds:.1f} s{rate}")
        if self.strict_coverage and self.coverage is not None and self.coverage.unexercised:
            lines.append(f"--strict-coverage: {len(self.coverage.unexercised)} item(s) "
                         f"exercised zero times: {', '.join(self.coverage.unexercised[:10])}")
        failures = self.failures
        if failures:
            first = failures[0]
            lines += ["", f"First failure ({first.nodeid}):",
                      *("  " + line for line in first.message.strip().splitlines()[:25])]
            if first.curl:
                lines += ["", "Reproduce the first failing request:", f"  {first.curl}"]
            if len(failures) > 1:
                lines += ["", "Other failures:"] + [f"  {f.nodeid}: {_headline(f.message)}"
                                                     for f in failures[1:12]]
        return "\n".join(lines)


def _headline(message: str) -> str:
    for line in message.strip().splitlines():
        if line.strip():
            return line.strip()[:160]
    return ""


class _Collector:
    """A pytest plugin object that tallies reports per suite."""

    def __init__(self, suites: list[str]) -> None:
        self.results = {name: SuiteResult(name) for name in suites}
        self.cases = 0
        self.tally = Tally()

    def _suite(self, nodeid: str) -> SuiteResult | None:
        stem = Path(nodeid.split("::", 1)[0]).stem
        return self.results.get(stem)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        suite = self._suite(report.nodeid)
        if suite is None:
            return
        if report.when == "teardown":
            # Every phase's report carries the test's user_properties so far;
            # the teardown report holds them all, once.
            self.tally.add_report(suite.name, report.user_properties)
            for name, value in report.user_properties:
                if name == "cases":
                    self.cases += int(value)
        if report.when == "call" and report.passed:
            suite.passed += 1
        elif report.failed:
            suite.failed += 1
            suite.failures.append(Failure(report.nodeid, report.longreprtext))
        elif report.skipped and report.when in ("setup", "call"):
            suite.skipped += 1
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            reason = str(reason).removeprefix("Skipped: ")
            suite.skip_reasons[reason] = suite.skip_reasons.get(reason, 0) + 1

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            suite = self._suite(report.nodeid)
            if suite is not None:
                suite.failed += 1
                suite.failures.append(Failure(report.nodeid, report.longreprtext))


def plugin_registered() -> bool:
    return any(ep.value == "losant_kit.contracts.plugin" for ep in entry_points(group="pytest11"))


def xdist_available() -> bool:
    return importlib.util.find_spec("xdist") is not None


def option_args(options: Options) -> list[str]:
    args: list[str] = []
    for flag, value in (("--losant-base-url", options.base_url),
                        ("--losant-token", options.token),
                        ("--losant-email", options.email),
                        ("--losant-password", options.password),
                        ("--losant-other-token", options.other_token),
                        ("--losant-other-email", options.other_email),
                        ("--losant-other-password", options.other_password),
                        ("--losant-application-id", options.application_id),
                        ("--losant-app-factory", options.app_factory),
                        ("--losant-max-examples", options.max_examples)):
        if value is not None:
            args += [flag, str(value)]
    args += ["--losant-seed", str(options.seed), "--losant-rate", str(options.rate)]
    if options.live_safe:
        args.append("--losant-live-safe")
    if options.real_time:
        args.append("--losant-real-time")
    return args


def run_suites(suites: list[str] | None, options: Options, *, junit: str | None = None,
               workers: int | None = None, select: str | None = None, quiet: bool = False,
               extra_args: list[str] | None = None, strict_coverage: bool = False) -> RunResult:
    """Run ``suites`` (default: all) against the target ``options`` describe."""
    chosen = list(suites or SUITES)
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        raise ValueError(f"unknown suite(s) {unknown}; known: {sorted(SUITES)}")
    args = ["--pyargs", *(module_of(s) for s in chosen),
            "-p", "no:cacheprovider", "-p", "no:logging", "-p", "no:randomly",
            # Independent of the working directory: no ini file, no rootdir and
            # no conftest.py of whatever checkout the command is started in.
            "-c", os.devnull, "--rootdir", str(Path(__file__).resolve().parent), "--noconftest",
            "-W", "ignore::DeprecationWarning", "--assert=plain", "--losant-coverage-quiet",
            *option_args(options)]
    if strict_coverage:
        args.append("--losant-strict-coverage")
    if not plugin_registered():
        args += ["-p", "losant_kit.contracts.plugin"]
    args += ["-qq", "--no-header", "--tb=no"] if quiet else ["-q"]
    if junit:
        args += ["--junitxml", junit]
    if select:
        args += ["-k", select]
    if workers and workers > 1:
        if xdist_available():
            args += ["-n", str(workers)]
        elif not quiet:
            print(f"losant-contracts: pytest-xdist is not installed; running on one worker "
                  f"instead of {workers}")
    args += list(extra_args or [])
    collector = _Collector(chosen)
    started = time.monotonic()
    exit_code = pytest.main(args, plugins=[collector])
    seconds = time.monotonic() - started
    failed = any(not s.ok for s in collector.results.values())
    if strict_coverage and collector.tally.unexercised:
        failed = True
    code = int(exit_code) if int(exit_code) != 0 or not failed else 1
    return RunResult(code, collector.results, seconds, collector.cases, collector.tally,
                     strict_coverage)


def describe_target(options: Options) -> dict[str, Any]:
    return {"base_url": options.base_url or "in-process mock", "live_safe": options.live_safe}
