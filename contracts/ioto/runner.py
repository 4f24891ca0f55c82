"""Run the Ioto suites through pytest and sum them up like the Losant runner does."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from losant_kit.contracts.ioto import SUITES, module_of
from losant_kit.contracts.ioto.plugin import IotoPlugin
from losant_kit.contracts.ioto.target import IotoOptions
from losant_kit.contracts.runner import RunResult, _Collector


def run_ioto_suites(suites: list[str] | None, options: IotoOptions, *, junit: str | None = None,
                    select: str | None = None, quiet: bool = False) -> RunResult:
    chosen = list(suites or SUITES)
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        raise ValueError(f"unknown Ioto suite(s) {unknown}; known: {sorted(SUITES)}")
    args = ["--pyargs", *(module_of(s) for s in chosen),
            "-p", "no:cacheprovider", "-p", "no:logging", "-p", "no:randomly",
            "-c", os.devnull, "--rootdir", str(Path(__file__).resolve().parent),
            "--noconftest", "-W", "ignore::DeprecationWarning", "--assert=plain",
            *(["-qq", "--no-header", "--tb=no"] if quiet else ["-q"])]
    if junit:
        args += ["--junitxml", junit]
    if select:
        args += ["-k", select]
    collector = _Collector(chosen)
    started = time.monotonic()
    exit_code = pytest.main(args, plugins=[collector, IotoPlugin(options)])
    seconds = time.monotonic() - started
    failed = any(not s.ok for s in collector.results.values())
    code = int(exit_code) if int(exit_code) != 0 or not failed else 1
    return RunResult(code, collector.results, seconds, collector.cases)
