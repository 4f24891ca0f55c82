"""devices.* and device.* (records; state and commands live in their own groups)."""

from losant_kit.mockserver.dispatch import Call
from losant_kit.mockserver.handlers import handles


@handles("devices.get")
def list_devices(call: Call):
    return call.backend.devices.list(call.who, call["applicationId"], call.params)


@handles("devices.post")
def create(call: Call):
    return call.backend.devices.create(call.who, call["applicationId"], call.body, call.params)


@handles("devices.patch")
def bulk_patch(call: Call):
    return call.backend.devices.bulk_patch(call.who, call["applicationId"], call.body)


@handles("devices.delete")
def bulk_delete(call: Call):
    return call.backend.devices.bulk_delete(call.who, call["applicationId"], call.body or {})


@handles("devices.restore")
def bulk_restore(call: Call):
    return call.backend.devices.bulk_restore(call.who, call["applicationId"], call.body or {})


@handles("devices.attributeNames")
def attribute_names(call: Call):
    return call.backend.devices.attribute_names(call.who, call["applicationId"], call.params)


@handles("devices.deviceNames")
def device_names(call: Call):
    return call.backend.devices.device_names(call.who, call["applicationId"], call.params)


@handles("devices.tagKeys")
def tag_keys(call: Call):
    return call.backend.devices.tag_keys(call.who, call["applicationId"], call.params)


@handles("devices.tagValues")
def tag_values(call: Call):
    return call.backend.devices.tag_values(call.who, call["applicationId"], call.params)


@handles("device.get")
def get(call: Call):
    return call.backend.devices.get(call.who, call["applicationId"], call["deviceId"], call.params)


@handles("device.patch")
def patch(call: Call):
    return call.backend.devices.patch(
        call.who, call["applicationId"], call["deviceId"], call.body, call.params
    )


@handles("device.delete")
def delete(call: Call):
    return call.backend.devices.delete(call.who, call["applicationId"], call["deviceId"])
