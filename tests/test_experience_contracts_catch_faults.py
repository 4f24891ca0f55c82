"""The experience suite catches real defects of an experience, and names them.

Each case runs a part of ``losant-contracts experience`` (as the command runs
it, in-process) against the mock serving the equipment-monitor file with one
deliberate defect (tests/faults/experience_variants.py), and asserts that it
FAILS with a message naming the defect; the whole suite (every selection)
PASSES against the unbroken experience, with nothing skipped.
"""

from __future__ import annotations

import pytest

from losant_kit.contracts.experience.runner import run_experience
from losant_kit.contracts.experience.target import ExperienceOptions
from losant_kit.fixtures.experiences import DEFAULT_SLUG, TENANT_LOGINS
from tests.faults.experience_variants import API_FILE

FAULTS = "tests.faults.experience_variants"

# (-k selection, fault variant, words the failure must contain)
CASES = [
    ("tenancy and second_user", "other_tenant_readable",
     ["experience tenancy broken", "another tenant's device readable", "tenant-b@example.com"]),
    ("listings", "leaky_device_list", ["another tenant's devices listed",
                                       "GET /api/devices lists"]),
    ("conformance and positive and getDevice", "wrong_response_field",
     ["GET /api/devices/{deviceId}", "Response violates schema", '"name" is a required property']),
    ("token_cutoff", "token_after_cutoff", ["a revoked token accepted after tokenCutoff"]),
    ("conformance and invalid and getDeviceData", "server_error_on_bad_input",
     ["Server error", "500"]),
]


def _run(select: str, variant: str):
    (email, password), (other_email, other_password) = TENANT_LOGINS
    options = ExperienceOptions(
        spec=str(API_FILE), base_url=f"http://testserver/_experience/{DEFAULT_SLUG}",
        email=email, password=password, other_email=other_email,
        other_password=other_password, app_factory=f"{FAULTS}:{variant}", max_examples=10)
    return run_experience(options, select=select, quiet=True)


@pytest.mark.parametrize("case", CASES, ids=[c[1] for c in CASES])
def test_experience_suite_fails_on_the_broken_experience_naming_the_defect(case: tuple) -> None:
    select, variant, words = case
    result = _run(select, variant)
    assert not result.ok, f"the experience suite passed against the '{variant}' experience"
    text = "\n".join(f.message for f in result.failures)
    missing = [w for w in words if w not in text]
    assert not missing, f"failure message lacks {missing}:\n{text[:3000]}"


def test_whole_suite_passes_on_the_unbroken_experience() -> None:
    """Every part (so every selection above) passes on the correct experience, none skipped."""
    result = _run("", "unbroken")
    assert result.ok, "\n".join(f.message for f in result.failures)[:3000]
    skipped = {r: n for s in result.suites.values() for r, n in s.skip_reasons.items()}
    assert not skipped, f"parts of the suite did not run against the mock: {skipped}"
