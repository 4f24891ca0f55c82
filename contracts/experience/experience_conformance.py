"""Conformance: every operation of the file, fuzzed by Schemathesis.

Positive cases (valid by the file) must answer a documented status with a
body of the documented schema; negative cases (invalid by the file) must be
refused with a 4xx, never a 5xx. Generated ``deviceId``s are swapped for a
device the first user reaches three times in four, so success bodies get
checked, not only 404s. Secured operations carry the first user's token.
"""

from __future__ import annotations

from typing import Any

import pytest

from losant_kit.contracts.experience.plugin import examples

DEFAULT_EXAMPLES = 10


def _run(mode: str, operation_id: str, target: Any, schema: Any,
         request: pytest.FixtureRequest) -> None:
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from schemathesis import GenerationMode
    from schemathesis.generation.feedback import NO_FEEDBACK

    from losant_kit.contracts.experience.fuzzing import (
        KEEP,
        excluded_checks,
        known_ids,
        send_case,
    )
    from losant_kit.contracts.fuzz import run_property

    operation = target.api.operations[operation_id]
    if not target.may_call(operation):
        pytest.skip(f"live-safe: {operation.method.upper()} is not a safe method "
                    "(--allow-unsafe to fuzz it)")
    api_operation = schema.find_operation_by_id(operation_id)
    known = known_ids(target)
    excluded = excluded_checks()
    count = [0]

    @seed(request.config.getoption("exp_seed"))
    @settings(max_examples=examples(request.config, DEFAULT_EXAMPLES), deadline=None,
              database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=api_operation.as_strategy(generation_mode=GenerationMode(mode),
                                          feedback=NO_FEEDBACK))
    def check(case: Any) -> None:
        count[0] += 1
        known.apply(case)
        response = send_case(target, case, KEEP)
        case.validate_response(response, excluded_checks=excluded)

    run_property(check, request, count, f"{operation.method.upper()} {operation.route} "
                 f"({operation_id}, {mode} data) breaks {target.api.source}")


@pytest.mark.exp_over("operations")
def test_positive_cases_conform(exp_operation: str, experience_target: Any,
                                experience_schema: Any, request: pytest.FixtureRequest) -> None:
    _run("positive", exp_operation, experience_target, experience_schema, request)


@pytest.mark.exp_over("operations")
def test_invalid_input_is_refused_with_4xx(exp_operation: str, experience_target: Any,
                                           experience_schema: Any,
                                           request: pytest.FixtureRequest) -> None:
    _run("negative", exp_operation, experience_target, experience_schema, request)
