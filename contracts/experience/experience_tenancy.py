"""Tenancy: a token of one experience user never reads another user's device.

Every device id the first user reaches (see reach.py) is tried, on every
operation with a ``{deviceId}`` in its route, with the second user's token:
it must not answer 2xx unless the second user reaches that device too; and
the other way round. The first user must read its own devices (otherwise an
experience refusing everyone would pass).
"""

from __future__ import annotations

from typing import Any

import pytest

from losant_kit.contracts.suites._support import defect


def _pair(target: Any) -> tuple[Any, Any]:
    if target.second is None:
        pytest.skip("give --other-email and --other-password (a user of another tenant)")
    return target.first, target.second


def _try_foreign(target: Any, schema: Any, operation: Any, owner: Any, intruder: Any) -> None:
    from losant_kit.contracts.experience.fuzzing import example_case, send_case

    if not target.may_call(operation):
        pytest.skip(f"live-safe: {operation.method.upper()} is not a safe method")
    foreign = sorted(owner.device_ids - intruder.device_ids)
    if not foreign:
        pytest.skip(f"{owner.email} reaches no device that {intruder.email} does not")
    case = example_case(target, schema, operation)
    for device_id in foreign:
        response = send_case(target, case, intruder.token, device_id)
        if response.is_success:
            defect(f"{intruder.email} read device {device_id} of {owner.email} through "
                   f"{operation.method.upper()} {operation.route}: {response.status_code} "
                   "(experience tenancy broken: another tenant's device readable)", response)


@pytest.mark.exp_over("device")
def test_second_user_reaches_no_device_of_the_first(exp_operation: str, experience_target: Any,
                                                   experience_schema: Any) -> None:
    first, second = _pair(experience_target)
    operation = experience_target.api.operations[exp_operation]
    _try_foreign(experience_target, experience_schema, operation, first, second)


@pytest.mark.exp_over("device")
def test_first_user_reaches_no_device_of_the_second(exp_operation: str, experience_target: Any,
                                                   experience_schema: Any) -> None:
    first, second = _pair(experience_target)
    operation = experience_target.api.operations[exp_operation]
    _try_foreign(experience_target, experience_schema, operation, second, first)


@pytest.mark.exp_over("device")
def test_first_user_reads_its_own_devices(exp_operation: str, experience_target: Any,
                                          experience_schema: Any) -> None:
    from losant_kit.contracts.experience.fuzzing import example_case, send_case

    target = experience_target
    operation = target.api.operations[exp_operation]
    if not target.may_call(operation):
        pytest.skip(f"live-safe: {operation.method.upper()} is not a safe method")
    own = sorted(target.first.device_ids)
    if not own:
        pytest.skip(f"{target.first.email} reaches no device (nothing to check tenancy on)")
    case = example_case(target, experience_schema, operation)
    for device_id in own[:5]:
        response = send_case(target, case, target.first.token, device_id)
        if not response.is_success:
            defect(f"{target.first.email} cannot read its own device {device_id} through "
                   f"{operation.method.upper()} {operation.route}: {response.status_code}",
                   response)


def test_listings_show_only_devices_the_user_reaches(experience_target: Any) -> None:
    """A listing operation (``{"items": [{"id"}]}``) shows each user only its devices.
    Judged where the truth is known: the mock's world record of who reaches what."""
    from losant_kit.contracts.experience.reach import (
        listed_items,
        listing_operations,
        recorded_reach,
    )

    target = experience_target
    listings = listing_operations(target)
    if not listings:
        pytest.skip("the file has no listing operation")
    if not target.is_mock:
        pytest.skip("who reaches which device is known only on the kit's mock")
    for login in (target.first, target.second):
        if login is None:
            continue
        truth = recorded_reach(target, login.email)
        if truth is None:
            pytest.skip(f"the mock's world has no record of {login.email}")
        for operation in listings:
            response = target.request("get", operation.route, token=login.token)
            listed = {str(item.get("id")) for item in listed_items(response)}
            extra = sorted(listed - truth)
            if extra:
                defect(f"{operation.method.upper()} {operation.route} lists {len(extra)} "
                       f"device(s) {login.email} does not reach, e.g. {extra[0]} (experience "
                       "tenancy broken: another tenant's devices listed)", response)

