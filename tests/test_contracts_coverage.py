"""What the suites cover: the spec-derived tables, the coverage table, the second account."""

from __future__ import annotations

import pytest

from losant_kit.contracts import domains, reach
from losant_kit.contracts.cli import main as cli
from losant_kit.contracts.coverage import PROPERTY, Tally
from losant_kit.contracts.runner import run_suites
from losant_kit.contracts.spec_view import operations
from losant_kit.contracts.target import Options

FAULTS = "tests.faults.variants"


def test_a_kind_reaches_exactly_the_operations_its_scopes_are_listed_for() -> None:
    device = reach.KINDS["device token"]
    reached = {op.id for op in reach.reachable(device.scopes)}
    listed = {op.id for op in operations().values() if "all.Device" in op.scopes and not op.sse}
    assert reached == listed
    assert "device.get" in reached and "applicationKeys.post" not in reached


def test_every_resource_group_a_kind_reaches_has_a_representative_it_reaches() -> None:
    for name, kind in reach.KINDS.items():
        groups = {reach.group_of(op) for op in reach.reachable(kind.scopes)}
        chosen = reach.representatives(name)
        assert set(chosen) == groups
        assert all(op.scopes & kind.scopes for op in chosen.values())


def test_a_narrowed_credential_keeps_reads_and_loses_writes() -> None:
    for name, kind in reach.KINDS.items():
        for kept, lost in reach.narrowed_pairs(name).values():
            assert kept is None or kept.scopes & kind.narrowed
            assert lost is None or not lost.scopes & kind.narrowed


def test_behaviour_input_classes_span_the_spec_enumerations() -> None:
    rules = domains.rules()
    assert {f"class {c}" for c in domains.device_classes()} <= set(rules["read-back"])
    assert set(domains.aggregations()) <= set(rules["aggregate"])
    assert {f"name {d}" for d in domains.sort_directions()} <= set(rules["sorting"])
    assert "deletedAt desc" in rules["paging"]


def test_the_coverage_table_names_items_exercised_zero_times() -> None:
    tally = Tally()
    tally.add_report("throttle", [(PROPERTY, ("throttle", "window throttle", "device.sendState",
                                              31))])
    text = tally.table()
    assert "window throttle" in text and "exercised 0 times" in text
    assert "throttle window throttle events.post" in tally.unexercised
    assert "throttle window throttle device.sendState" not in tally.unexercised


def test_strict_coverage_fails_a_run_that_left_items_unexercised() -> None:
    options = Options(max_examples=2)
    result = run_suites(["behaviour"], options, select="events_read_back", quiet=True,
                        strict_coverage=True)
    assert sum(s.passed for s in result.suites.values()) == 1
    assert not result.ok
    assert "--strict-coverage" in result.summary()
    assert "behaviour rule paging: perPage 1" in result.coverage.unexercised


def test_the_same_run_without_strict_coverage_passes_and_shows_the_table() -> None:
    result = run_suites(["behaviour"], Options(max_examples=2), select="events_read_back",
                        quiet=True)
    assert result.ok
    assert "events: critical" not in result.coverage.unexercised
    assert "losant-contracts coverage" in result.summary()


def test_cross_tenant_checks_run_against_a_mock_with_a_single_login() -> None:
    options = Options(app_factory=f"{FAULTS}:single_login", max_examples=2)
    result = run_suites(["auth"], options, quiet=True,
                        select="second_account or not_granted or another_users")
    suite = result.suites["auth"]
    assert result.ok, result.summary()
    assert suite.skipped == 0 and suite.passed == 6, result.summary()


def test_cli_wants_the_other_password_with_the_other_email(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["run", "--other-email", "x@example.com"]) == 2
    assert "--other-password" in capsys.readouterr().err
