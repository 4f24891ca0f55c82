"""Every action of the spec is served by a real handler."""

from losant_kit.mockserver import handlers
from losant_kit.mockserver.spec import PlatformSpec


def test_every_operation_of_the_spec_has_a_handler():
    served = set(handlers.registry())
    missing = sorted(set(PlatformSpec().operations) - served)
    assert missing == [], f"operations answered with 501 'not served': {missing}"


def test_no_handler_serves_an_operation_the_spec_lacks():
    extra = sorted(set(handlers.registry()) - set(PlatformSpec().operations))
    assert extra == []
