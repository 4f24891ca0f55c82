"""The file's OpenAPI links, followed from real responses.

For every declared link: call its source operation as the first user (an
example request, aimed at a device the user reaches); when that answers the
status the link hangs on, evaluate the link's parameters from the exchange
and call the target operation with them. It must answer 2xx with a body of
its documented schema: a link from a success leads to something that exists.
"""

from __future__ import annotations

from typing import Any

import pytest

from losant_kit.contracts.client import describe
from losant_kit.contracts.suites._support import defect


def test_every_declared_link_holds(exp_link: Any, experience_target: Any,
                                   experience_schema: Any) -> None:
    from losant_kit.contracts.experience.fuzzing import example_case, send_case, token_for
    from losant_kit.contracts.experience.links import evaluate, missing
    from losant_kit.mockserver.experience.apicheck import OperationCheck

    target = experience_target
    source = target.api.operations[exp_link.source]
    destination = target.api.operations[exp_link.target]
    if not (target.may_call(source) and target.may_call(destination)):
        pytest.skip("live-safe: the link involves a method that is not safe")
    case = example_case(target, experience_schema, source)
    first = send_case(target, case, token_for(target, source))
    if str(first.status_code) != exp_link.status:
        pytest.skip(f"the source answered {first.status_code}, not the link's "
                    f"{exp_link.status} ({describe(first)})")
    exchange = {"path": dict(case.path_parameters or {}), "query": dict(case.query or {})}
    params: dict[str, Any] = {}
    for name, expression in exp_link.parameters:
        value = evaluate(expression, exchange, first)
        if missing(value):
            defect(f"link {exp_link.name}: {expression} resolves to nothing in the "
                   f"{first.status_code} reply (declared link broke the contract)", first)
        params[name.split(".")[-1]] = value
    path_names = {p["name"] for p in destination.parameters if p.get("in") == "path"}
    path = destination.route
    for name in path_names:
        if name not in params:
            pytest.skip(f"link {exp_link.name} gives no value for path parameter {name}")
        path = path.replace("{" + name + "}", str(params.pop(name)))
    second = target.request(destination.method, path, token=token_for(target, destination),
                            params=params or None)
    if not 200 <= second.status_code < 300:
        defect(f"link {exp_link.name}: following it answered {second.status_code}, not 2xx "
               "(declared link broke the contract)", second)
    try:
        body = second.json() if second.content else None
    except ValueError:
        defect(f"link {exp_link.name}: the target's reply is not JSON", second)
    problem = OperationCheck(destination).response_problem(second.status_code, body)
    if problem:
        defect(f"link {exp_link.name}: the target's reply breaks the file: {problem}", second)
