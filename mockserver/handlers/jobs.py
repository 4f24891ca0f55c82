"""Job-style actions: archives, exports, imports, clones and data removal.

A model answers with a body, a ``Created`` (201) or an ``Enqueued`` job (202
``jobEnqueuedResult``); :func:`job_or` turns those into the documented reply.
"""

from typing import Any

from starlette.requests import Request

from losant_kit.mockserver.dispatch import Call, Reply
from losant_kit.mockserver.handlers import handles
from losant_kit.mockserver.jobs import Enqueued
from losant_kit.mockserver.models.job_base import Created


def job_or(result: Any) -> Any:
    """The reply for a model result that may be a queued job or a creation."""
    if isinstance(result, Enqueued):
        return Reply(202, result.body())
    if isinstance(result, Created):
        return Reply(201, result.body)
    return result


def base_url(call: Call) -> str:
    """The mock's own scheme and host, for the download URLs of job results."""
    return str(Request(call.scope).base_url).rstrip("/") if call.scope else ""


def _job(call: Call) -> dict[str, Any]:
    return {"throttle": call.operation.throttle, "base_url": base_url(call)}


@handles("application.archiveData")
def archive_data(call: Call):
    return job_or(
        call.backend.job_actions.archive_data(
            call.who, call["applicationId"], call.params.get("date"), **_job(call)
        )
    )


@handles("application.backfillArchiveData")
def backfill_archive_data(call: Call):
    return job_or(
        call.backend.job_actions.backfill_archive_data(
            call.who, call["applicationId"], **_job(call)
        )
    )


@handles("application.fullDataTablesArchive")
def full_data_tables_archive(call: Call):
    return job_or(
        call.backend.job_actions.full_data_tables_archive(
            call.who, call["applicationId"], **_job(call)
        )
    )


@handles("application.fullEventsArchive")
def full_events_archive(call: Call):
    return job_or(
        call.backend.job_actions.full_events_archive(call.who, call["applicationId"], **_job(call))
    )


@handles("application.export")
def export_application(call: Call):
    return job_or(
        call.backend.job_actions.export_application(
            call.who, call["applicationId"], call.body or {}, **_job(call)
        )
    )


@handles("application.import")
def import_into(call: Call):
    return job_or(
        call.backend.job_actions.import_into(
            call.who,
            call["applicationId"],
            call.body or {},
            call.params.get("importBundle"),
            **_job(call),
        )
    )


@handles("applications.import")
def import_new(call: Call):
    return job_or(
        call.backend.job_actions.import_new(
            call.who, call.body or {}, call.params.get("importBundle"), **_job(call)
        )
    )


@handles("application.importLogs")
def import_logs(call: Call):
    return call.backend.job_actions.import_logs(call.who, call["applicationId"], call.params)


@handles("application.clone")
def clone(call: Call):
    return job_or(
        call.backend.job_actions.clone(
            call.who, call["applicationId"], call.body or {}, **_job(call)
        )
    )


@handles("application.applyTemplate")
def apply_template(call: Call):
    return call.backend.job_actions.apply_template(call.who, call["applicationId"], call.body)


@handles("devices.export")
def devices_export(call: Call):
    return job_or(
        call.backend.job_actions.devices_export(
            call.who, call["applicationId"], call.body or {}, call.params, **_job(call)
        )
    )


@handles("devices.payloadCounts")
def payload_counts(call: Call):
    return job_or(
        call.backend.job_actions.payload_counts(
            call.who, call["applicationId"], call.body or {}, **_job(call)
        )
    )


@handles("devices.removeData")
def devices_remove_data(call: Call):
    return job_or(
        call.backend.job_actions.devices_remove_data(
            call.who, call["applicationId"], call.body, **_job(call)
        )
    )


@handles("device.export")
def device_export(call: Call):
    return job_or(
        call.backend.job_actions.device_export(
            call.who,
            call["applicationId"],
            call["deviceId"],
            call.params,
            call.body or {},
            **_job(call),
        )
    )


@handles("device.removeData")
def device_remove_data(call: Call):
    return job_or(
        call.backend.job_actions.device_remove_data(
            call.who, call["applicationId"], call["deviceId"], call.params, **_job(call)
        )
    )


@handles("data.export")
def data_export(call: Call):
    return job_or(
        call.backend.job_actions.data_export(
            call.who, call["applicationId"], call.body, **_job(call)
        )
    )
