"""experience*.*: an application's experience users, groups, endpoints, slugs and domains."""

from losant_kit.mockserver.dispatch import Call
from losant_kit.mockserver.handlers import handles

# ---------------------------------------------------------------- the experience


@handles("experience.bootstrap")
def bootstrap(call: Call):
    return call.backend.experiences.bootstrap(call.who, call["applicationId"], call.body)


@handles("experience.delete")
def delete_experience(call: Call):
    return call.backend.experiences.delete(call.who, call["applicationId"], call.params)


# ---------------------------------------------------------------- users


@handles("experienceUsers.get")
def list_users(call: Call):
    return call.backend.experience_users.list(call.who, call["applicationId"], call.params)


@handles("experienceUsers.post")
def create_user(call: Call):
    return call.backend.experience_users.create(call.who, call["applicationId"], call.body)


@handles("experienceUser.get")
def get_user(call: Call):
    return call.backend.experience_users.get(
        call.who, call["applicationId"], call["experienceUserId"]
    )


@handles("experienceUser.patch")
def patch_user(call: Call):
    return call.backend.experience_users.patch(
        call.who, call["applicationId"], call["experienceUserId"], call.body
    )


@handles("experienceUser.delete")
def delete_user(call: Call):
    return call.backend.experience_users.delete(
        call.who, call["applicationId"], call["experienceUserId"]
    )


# ---------------------------------------------------------------- groups


@handles("experienceGroups.get")
def list_groups(call: Call):
    return call.backend.experience_groups.list(call.who, call["applicationId"], call.params)


@handles("experienceGroups.post")
def create_group(call: Call):
    return call.backend.experience_groups.create(call.who, call["applicationId"], call.body)


@handles("experienceGroup.get")
def get_group(call: Call):
    return call.backend.experience_groups.get(
        call.who, call["applicationId"], call["experienceGroupId"], call.params
    )


@handles("experienceGroup.patch")
def patch_group(call: Call):
    return call.backend.experience_groups.patch(
        call.who, call["applicationId"], call["experienceGroupId"], call.body
    )


@handles("experienceGroup.delete")
def delete_group(call: Call):
    return call.backend.experience_groups.delete(
        call.who, call["applicationId"], call["experienceGroupId"]
    )


# ---------------------------------------------------------------- endpoints


@handles("experienceEndpoints.get")
def list_endpoints(call: Call):
    return call.backend.experience_endpoints.list(call.who, call["applicationId"], call.params)


@handles("experienceEndpoints.post")
def create_endpoint(call: Call):
    return call.backend.experience_endpoints.create(call.who, call["applicationId"], call.body)


@handles("experienceEndpoints.stats")
def endpoint_stats(call: Call):
    return call.backend.experience_endpoints.stats(call.who, call["applicationId"], call.params)


@handles("experienceEndpoint.get")
def get_endpoint(call: Call):
    return call.backend.experience_endpoints.get(
        call.who, call["applicationId"], call["experienceEndpointId"]
    )


@handles("experienceEndpoint.patch")
def patch_endpoint(call: Call):
    return call.backend.experience_endpoints.patch(
        call.who, call["applicationId"], call["experienceEndpointId"], call.body
    )


@handles("experienceEndpoint.delete")
def delete_endpoint(call: Call):
    return call.backend.experience_endpoints.delete(
        call.who, call["applicationId"], call["experienceEndpointId"]
    )


@handles("experienceEndpoint.linkedResources")
def endpoint_linked_resources(call: Call):
    return call.backend.experience_endpoints.linked_resources(
        call.who, call["applicationId"], call["experienceEndpointId"]
    )


# ---------------------------------------------------------------- slugs and domains


@handles("experienceSlugs.get")
def list_slugs(call: Call):
    return call.backend.experience_slugs.list(call.who, call["applicationId"])


@handles("experienceSlugs.post")
def create_slug(call: Call):
    return call.backend.experience_slugs.create(call.who, call["applicationId"], call.body)


@handles("experienceSlug.get")
def get_slug(call: Call):
    return call.backend.experience_slugs.get(
        call.who, call["applicationId"], call["experienceSlugId"]
    )


@handles("experienceSlug.patch")
def patch_slug(call: Call):
    return call.backend.experience_slugs.patch(
        call.who, call["applicationId"], call["experienceSlugId"], call.body
    )


@handles("experienceSlug.delete")
def delete_slug(call: Call):
    return call.backend.experience_slugs.delete(
        call.who, call["applicationId"], call["experienceSlugId"]
    )


@handles("experienceDomains.get")
def list_domains(call: Call):
    return call.backend.experience_domains.list(call.who, call["applicationId"])


@handles("experienceDomains.post")
def create_domain(call: Call):
    return call.backend.experience_domains.create(call.who, call["applicationId"], call.body)


@handles("experienceDomain.get")
def get_domain(call: Call):
    return call.backend.experience_domains.get(
        call.who, call["applicationId"], call["experienceDomainId"]
    )


@handles("experienceDomain.patch")
def patch_domain(call: Call):
    return call.backend.experience_domains.patch(
        call.who, call["applicationId"], call["experienceDomainId"], call.body
    )


@handles("experienceDomain.delete")
def delete_domain(call: Call):
    return call.backend.experience_domains.delete(
        call.who, call["applicationId"], call["experienceDomainId"]
    )
