"""What devices report and the queries over it: state, composite state, time series,
last values, connection status and connection logs (models/telemetry.py)."""

from losant_kit.mockserver.dispatch import Call
from losant_kit.mockserver.handlers import handles


@handles("device.sendState")
def send_state(call: Call):
    return call.backend.telemetry.send_state(
        call.who, call["applicationId"], call["deviceId"], call.body
    )


@handles("device.getState")
def get_state(call: Call):
    return call.backend.telemetry.history(
        call.who, call["applicationId"], call["deviceId"], call.params
    )


@handles("device.getCompositeState")
def get_composite_state(call: Call):
    return call.backend.telemetry.composite(
        call.who, call["applicationId"], call["deviceId"], call.params
    )


@handles("devices.getCompositeState")
def get_composite_states(call: Call):
    return call.backend.telemetry.composite_many(call.who, call["applicationId"], call.params)


@handles("data.lastValueQuery")
def last_value_query(call: Call):
    return call.backend.telemetry.last_values(call.who, call["applicationId"], call.body)


@handles("data.timeSeriesQuery")
def time_series_query(call: Call):
    # The result-size cap is the operation's x-throttle, read from the spec.
    throttle = call.operation.throttle
    rule = call.backend.throttles.rule_for(call.operation.id, throttle) if throttle else None
    return call.backend.telemetry.time_series(
        call.who, call["applicationId"], call.body, size_rule=rule
    )


@handles("device.setConnectionStatus")
def set_connection_status(call: Call):
    return call.backend.telemetry.connections.set_status(
        call.who, call["applicationId"], call["deviceId"], call.body
    )


@handles("device.getLogEntries")
def get_log_entries(call: Call):
    return call.backend.telemetry.connections.log_entries(
        call.who, call["applicationId"], call["deviceId"], call.params
    )
