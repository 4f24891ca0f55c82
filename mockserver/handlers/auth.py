"""auth.*: logging in as a user or a device."""

from losant_kit.mockserver.dispatch import Call, Reply
from losant_kit.mockserver.errors import Unauthorized
from losant_kit.mockserver.handlers import handles


@handles("auth.authenticateUser")
def authenticate_user(call: Call):
    return call.backend.users.authenticate(call.body)


@handles("auth.authenticateDevice")
def authenticate_device(call: Call):
    return call.backend.keys.authenticate_device(call.body)


@handles("auth.authenticateUserGithub")
def authenticate_user_github(call: Call):
    # No identity provider is reachable from the mock: every GitHub token is unknown.
    raise Unauthorized("GitHub login is not available in the mock; use /auth/user")


@handles("auth.authenticateUserSaml")
def authenticate_user_saml(call: Call):
    raise Unauthorized("SAML login is not available in the mock; use /auth/user")


@handles("auth.ssoDomain")
def sso_domain(call: Call):
    # No email domain is configured for single sign-on in the mock.
    return Reply(204, None)
