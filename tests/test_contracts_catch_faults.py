"""The contract suites catch real defects, and name them.

Each test runs one suite (a small selection of it, few examples) against the
mock with one deliberate defect (tests/faults) and asserts that the suite
FAILS with a message naming the defect; the same selection PASSES against the
unbroken mock. The suites run exactly as ``losant-contracts run`` runs them.
"""

from __future__ import annotations

import pytest

from losant_kit.contracts.runner import RunResult, run_suites
from losant_kit.contracts.target import Options

FAULTS = "tests.faults.variants"

# (suite, -k selection, fault variant, words the failure must contain)
CASES = [
    ("conformance", "positive and devices.post", "wrong_status_code",
     ["POST /applications/{applicationId}/devices", "Undocumented status code"]),
    ("conformance", "positive and device.get", "mistyped_field",
     ["exact schema", "name", "is not of type 'string'"]),
    ("stateful", "every_declared_link", "create_not_persisted",
     ["declared link broke the contract", "link devices.post -> device.get",
      "created resource not persisted"]),
    ("behaviour", "created_device_reads_back", "missing_field",
     ["description", "does not read back equal"]),
    ("behaviour", "pages_partition", "overlapping_pages",
     ["returned items already on page", "paging broken"]),
    ("behaviour", "glob_filter", "ignored_filter", ["filter ignored or wrong"]),
    ("behaviour", "time_series_aggregates", "wrong_aggregate", ["wrong aggregate"]),
    ("behaviour", "patch_changes_exactly", "patch_not_persisted", ["patch not applied"]),
    ("behaviour", "glob_filter", "case_sensitive_filter",
     ["filter ignored or wrong", "compares case-sensitively"]),
    ("auth", "cannot_read_another_device", "leaky_device_token",
     ["leaky authorisation", "device token read another device"]),
    ("auth", "reaches_only_its_tenants", "leaky_experience_tenancy",
     ["experience tenancy broken"]),
    ("behaviour", "group_tree_ancestors", "flat_group_tree", ["ancestorIds", "chain of parents"]),
    ("auth", "every_credential_state", "expired_token_accepted",
     ["an expired token accepted", "expired device.get -> 200"]),
    ("auth", "not_granted", "subresource_leak",
     ["leaky authorisation", "device.getCompositeState on a device its key does not allow"]),
    ("throttle", "window_limit and sendState", "missing_throttle",
     ["accepted call 31", "missing throttle"]),
    ("throttle", "concurrency", "missing_throttle", ["missing concurrency limit"]),
]


# The stateful fault is caught by following every declared link once
# (deterministic); the random walks are not needed for it.
EXAMPLES: dict[str, int | None] = {}


def _run(suite: str, select: str, variant: str) -> RunResult:
    options = Options(app_factory=f"{FAULTS}:{variant}", max_examples=EXAMPLES.get(suite, 4))
    return run_suites([suite], options, select=select or None, quiet=True)


def _ids(case: tuple) -> str:
    return f"{case[0]}-{case[2]}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_suite_fails_on_the_broken_mock_naming_the_defect(case: tuple) -> None:
    suite, select, variant, words = case
    result = _run(suite, select, variant)
    assert not result.ok, f"the {suite} suite passed against the '{variant}' mock"
    text = "\n".join(f.message for f in result.failures)
    missing = [w for w in words if w not in text]
    assert not missing, f"failure message lacks {missing}:\n{text[:3000]}"


@pytest.mark.parametrize(
    ("suite", "select"),
    sorted({(c[0], c[1]) for c in CASES}),
    ids=lambda v: v.replace(" ", "_") or "all")
def test_same_selection_passes_on_the_unbroken_mock(suite: str, select: str) -> None:
    result = _run(suite, select, "unbroken")
    assert result.ok, result.summary()
    assert sum(s.passed for s in result.suites.values()) > 0, "nothing ran"
