"""Run the experience suite through pytest, as ``losant-contracts run`` runs the others."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from losant_kit.contracts.experience.target import ExperienceOptions
from losant_kit.contracts.runner import RunResult, _Collector

#: The suite's parts: module stem -> what it checks.
PARTS = {
    "experience_conformance": "every operation of the file fuzzed: documented statuses and "
                              "schemas, invalid input refused with 4xx",
    "experience_links": "the file's OpenAPI links followed from real responses",
    "experience_auth": "no token, a garbage token, a tampered token, a token after tokenCutoff",
    "experience_tenancy": "the second user reaches no device of the first (and back)",
}


def option_args(options: ExperienceOptions) -> list[str]:
    args: list[str] = []
    for name in ("spec", "base_url", "email", "password", "other_email", "other_password",
                 "app_factory", "platform_email", "platform_password", "max_examples"):
        value = getattr(options, name)
        if value is not None:
            args += [f"--exp-{name.replace('_', '-')}", str(value)]
    args += ["--exp-seed", str(options.seed), "--exp-rate", str(options.rate)]
    if options.live_safe:
        args.append("--exp-live-safe")
    if options.allow_unsafe:
        args.append("--exp-allow-unsafe")
    return args


def run_experience(options: ExperienceOptions, *, junit: str | None = None,
                   select: str | None = None, quiet: bool = False) -> RunResult:
    import time

    here = Path(__file__).resolve().parent
    args = ["--pyargs", *(f"{__package__}.{part}" for part in PARTS),
            "-p", "no:cacheprovider", "-p", "no:logging", "-p", "no:randomly",
            "-c", os.devnull, "--rootdir", str(here), "--noconftest",
            "-W", "ignore::DeprecationWarning", "--assert=plain",
            "-p", f"{__package__}.plugin", *option_args(options)]
    args += ["-qq", "--no-header", "--tb=no"] if quiet else ["-q"]
    if junit:
        args += ["--junitxml", junit]
    if select:
        args += ["-k", select]
    collector = _Collector(list(PARTS))
    started = time.monotonic()
    exit_code = int(pytest.main(args, plugins=[collector]))
    failed = any(not s.ok for s in collector.results.values())
    code = exit_code if exit_code != 0 or not failed else 1
    return RunResult(code, collector.results, time.monotonic() - started, collector.cases)
