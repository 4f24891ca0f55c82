"""applicationKey(s).*: access keys for devices."""

from losant_kit.mockserver.dispatch import Call
from losant_kit.mockserver.handlers import handles


@handles("applicationKeys.get")
def list_keys(call: Call):
    return call.backend.keys.list(call.who, call["applicationId"], call.params)


@handles("applicationKeys.post")
def create(call: Call):
    return call.backend.keys.create(call.who, call["applicationId"], call.body)


@handles("applicationKey.get")
def get(call: Call):
    return call.backend.keys.get(call.who, call["applicationId"], call["applicationKeyId"])


@handles("applicationKey.patch")
def patch(call: Call):
    return call.backend.keys.patch(
        call.who, call["applicationId"], call["applicationKeyId"], call.body
    )


@handles("applicationKey.delete")
def delete(call: Call):
    return call.backend.keys.delete(call.who, call["applicationId"], call["applicationKeyId"])
