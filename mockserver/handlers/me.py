"""me.* and userApiToken(s).*: the calling user."""

from losant_kit.mockserver.dispatch import Call
from losant_kit.mockserver.handlers import handles


@handles("me.get")
def get(call: Call):
    return call.backend.users.me(call.who)


@handles("me.patch")
def patch(call: Call):
    return call.backend.users.patch_me(call.who, call.body)


@handles("me.refreshToken")
def refresh_token(call: Call):
    return call.backend.users.refresh_token(call.who)
