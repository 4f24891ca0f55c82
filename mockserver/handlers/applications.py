"""applications.* and application.*: the application resource."""

from losant_kit.mockserver.dispatch import Call
from losant_kit.mockserver.handlers import handles


@handles("applications.get")
def list_applications(call: Call):
    return call.backend.applications.list(call.who, call.params)


@handles("applications.post")
def create(call: Call):
    return call.backend.applications.create(call.who, call.body)


@handles("application.get")
def get(call: Call):
    return call.backend.applications.get(call.who, call["applicationId"])


@handles("application.patch")
def patch(call: Call):
    return call.backend.applications.patch(call.who, call["applicationId"], call.body)


@handles("application.delete")
def delete(call: Call):
    return call.backend.applications.delete(call.who, call["applicationId"])


@handles("application.globals")
def globals_(call: Call):
    return call.backend.applications.patch_globals(call.who, call["applicationId"], call.body)


@handles("application.readme")
def readme(call: Call):
    return call.backend.applications.readme(call.who, call["applicationId"])


@handles("application.readmePatch")
def readme_patch(call: Call):
    return call.backend.applications.patch_readme(call.who, call["applicationId"], call.body)


@handles("application.search")
def search(call: Call):
    return call.backend.applications.search(
        call.who, call["applicationId"], call.params.get("filter")
    )
