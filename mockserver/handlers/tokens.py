"""applicationApiToken(s).* and userApiToken(s).*: API tokens."""

from losant_kit.mockserver.dispatch import Call
from losant_kit.mockserver.handlers import handles


@handles("applicationApiTokens.get")
def app_list(call: Call):
    return call.backend.tokens.list(call.who, "application", call["applicationId"], call.params)


@handles("applicationApiTokens.post")
def app_create(call: Call):
    return call.backend.tokens.create(call.who, "application", call["applicationId"], call.body)


@handles("applicationApiToken.get")
def app_get(call: Call):
    return call.backend.tokens.get(
        call.who, "application", call["applicationId"], call["apiTokenId"]
    )


@handles("applicationApiToken.patch")
def app_patch(call: Call):
    return call.backend.tokens.patch(
        call.who, "application", call["applicationId"], call["apiTokenId"], call.body
    )


@handles("applicationApiToken.delete")
def app_delete(call: Call):
    return call.backend.tokens.delete(
        call.who, "application", call["applicationId"], call["apiTokenId"]
    )


@handles("userApiTokens.get")
def user_list(call: Call):
    return call.backend.tokens.list(call.who, "user", None, call.params)


@handles("userApiTokens.post")
def user_create(call: Call):
    return call.backend.tokens.create(call.who, "user", None, call.body)


@handles("userApiToken.get")
def user_get(call: Call):
    return call.backend.tokens.get(call.who, "user", None, call["apiTokenId"])


@handles("userApiToken.patch")
def user_patch(call: Call):
    return call.backend.tokens.patch(call.who, "user", None, call["apiTokenId"], call.body)


@handles("userApiToken.delete")
def user_delete(call: Call):
    return call.backend.tokens.delete(call.who, "user", None, call["apiTokenId"])
