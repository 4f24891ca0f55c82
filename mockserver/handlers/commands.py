"""device.sendCommand, devices.sendCommand, device.getCommand: commands to devices."""

from losant_kit.mockserver.dispatch import Call
from losant_kit.mockserver.handlers import handles


@handles("device.sendCommand")
def send(call: Call):
    return call.backend.commands.send(call.who, call["applicationId"], call["deviceId"], call.body)


@handles("devices.sendCommand")
def send_many(call: Call):
    return call.backend.commands.send_many(call.who, call["applicationId"], call.body)


@handles("device.getCommand")
def history(call: Call):
    return call.backend.commands.history(
        call.who, call["applicationId"], call["deviceId"], call.params
    )
