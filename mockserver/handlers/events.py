"""events.* and event.*: an application's events."""

from losant_kit.mockserver.dispatch import Call
from losant_kit.mockserver.handlers import handles
from losant_kit.mockserver.handlers.jobs import base_url, job_or


@handles("events.get")
def list_events(call: Call):
    return call.backend.events.list(call.who, call["applicationId"], call.params)


@handles("events.post")
def create(call: Call):
    return call.backend.events.create(call.who, call["applicationId"], call.body)


@handles("events.patch")
def bulk_patch(call: Call):
    return job_or(
        call.backend.events.bulk_patch(
            call.who, call["applicationId"], call.params, call.body, base_url=base_url(call)
        )
    )


@handles("events.delete")
def bulk_delete(call: Call):
    return job_or(
        call.backend.events.bulk_delete(
            call.who, call["applicationId"], call.body, call.params, base_url=base_url(call)
        )
    )


@handles("events.mostRecentBySeverity")
def most_recent_by_severity(call: Call):
    return call.backend.events.most_recent_by_severity(call.who, call["applicationId"], call.params)


@handles("events.export")
def export(call: Call):
    return job_or(
        call.backend.events.export(
            call.who,
            call["applicationId"],
            call.body or {},
            throttle=call.operation.throttle,
            base_url=base_url(call),
        )
    )


@handles("event.get")
def get(call: Call):
    return call.backend.events.get(call.who, call["applicationId"], call["eventId"])


@handles("event.patch")
def patch(call: Call):
    return call.backend.events.patch(call.who, call["applicationId"], call["eventId"], call.body)


@handles("event.delete")
def delete(call: Call):
    return call.backend.events.delete(call.who, call["applicationId"], call["eventId"])
