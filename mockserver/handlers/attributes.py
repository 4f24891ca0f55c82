"""deviceAttribute(s).*: a device's attribute definitions."""

from losant_kit.mockserver.dispatch import Call
from losant_kit.mockserver.handlers import handles


@handles("deviceAttributes.get")
def list_attributes(call: Call):
    return call.backend.devices.list_attributes(
        call.who, call["applicationId"], call["deviceId"], call.params
    )


@handles("deviceAttributes.post")
def create(call: Call):
    return call.backend.devices.create_attribute(
        call.who, call["applicationId"], call["deviceId"], call.body
    )


@handles("deviceAttribute.get")
def get(call: Call):
    return call.backend.devices.get_attribute(
        call.who, call["applicationId"], call["deviceId"], call["name"]
    )


@handles("deviceAttribute.patch")
def patch(call: Call):
    return call.backend.devices.patch_attribute(
        call.who, call["applicationId"], call["deviceId"], call["name"], call.body
    )


@handles("deviceAttribute.delete")
def delete(call: Call):
    return call.backend.devices.delete_attribute(
        call.who, call["applicationId"], call["deviceId"], call["name"]
    )
