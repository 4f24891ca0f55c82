"""Usage: payload counts, device counts, notebook minutes, period summaries (models/usage.py)."""

from losant_kit.mockserver.dispatch import Call
from losant_kit.mockserver.handlers import handles


@handles("application.payloadCounts")
def payload_counts(call: Call):
    return call.backend.usage.payload_stats(call.who, call["applicationId"], call.params)


@handles("application.payloadCountsBreakdown")
def payload_counts_breakdown(call: Call):
    return call.backend.usage.payload_breakdown(call.who, call["applicationId"], call.params)


@handles("device.payloadCounts")
def device_payload_counts(call: Call):
    return call.backend.usage.device_payload_counts(
        call.who, call["applicationId"], call["deviceId"], call.params
    )


@handles("device.payloadCountsBreakdown")
def device_payload_counts_breakdown(call: Call):
    return call.backend.usage.payload_breakdown(
        call.who, call["applicationId"], call.params, device_id=call["deviceId"]
    )


@handles("application.deviceCounts")
def device_counts(call: Call):
    return call.backend.usage.device_counts(call.who, call["applicationId"], call.params)


@handles("application.notebookMinuteCounts")
def notebook_minute_counts(call: Call):
    return call.backend.usage.notebook_minutes(call.who, call["applicationId"], call.params)


@handles("applications.periodSummaries")
def period_summaries(call: Call):
    return call.backend.usage.period_summaries(call.who, call.params)
