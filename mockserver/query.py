"""Advanced queries: one field-operator engine driven by a small field table per resource.

``advancedDeviceQuery``, ``advancedEventQuery``, ``advancedApplicationKeyQuery``
and the experience users' and groups' queries all compile here into a
predicate over stored records. Pure functions: nothing here knows HTTP or the
store. The other list concerns sit beside it, in the order a list request
meets them: :mod:`~losant_kit.mockserver.query_params` (bracket or JSON query
strings), :mod:`~losant_kit.mockserver.list_filters` (globs and the simple
device filters), :mod:`~losant_kit.mockserver.query_values` (how a field's
values compare) and :mod:`~losant_kit.mockserver.paging` (sorting and paging).

Client mistakes raise :class:`losant_kit.mockserver.errors.ValidationError` naming the
offending field or operator; no other exception escapes for odd input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.query_params import MAX_NESTING
from losant_kit.mockserver.query_values import (
    DATE,
    ID,
    LOGICAL_OPERATORS,
    SEARCHABLE_ID,
    TEXT,
    ValueKind,
    compile_operand,
    compile_tags,
)

Predicate = Callable[[Mapping[str, Any]], bool]


def match_all(_item: Mapping[str, Any]) -> bool:
    return True


def all_of(predicates: list[Predicate]) -> Predicate:
    if not predicates:
        return match_all
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda item: first(item) and second(item)

    def every(item: Mapping[str, Any]) -> bool:
        # A plain loop: all() over a generator doubles the cost on list hot paths.
        for predicate in predicates:  # noqa: SIM110
            if not predicate(item):
                return False
        return True

    return every


# --------------------------------------------------------------------------
# Field tables and the generic compiler


# Tag fields are not compared value by value: they have their own grammar
# (see compile_device_query), so their kind is this marker, not a ValueKind.
TAGS = "tags"


@dataclass(frozen=True)
class QueryField:
    """One queryable field: how to read it off an item and how to compare it."""

    kind: ValueKind | str
    read: Callable[[Mapping[str, Any]], Any]


def _key(*names: str) -> Callable[[Mapping[str, Any]], Any]:
    def read(item: Mapping[str, Any]) -> Any:
        for name in names:
            value = item.get(name)
            if value is not None:
                return value
        return None

    return read


def _unresolved(_item: Mapping[str, Any]) -> None:
    # Relations the item does not carry (which experience users can see a
    # device): the caller supplies a resolver; without one, nothing is linked.
    return None


def _attribute_names(device: Mapping[str, Any]) -> list[Any]:
    attributes = device.get("attributes")
    if isinstance(attributes, Mapping):  # attributesAsObject shape
        return list(attributes)
    if isinstance(attributes, list):
        return [a.get("name") for a in attributes if isinstance(a, Mapping)]
    return []


def _ancestor_ids(device: Mapping[str, Any]) -> list[Any]:
    ancestors = device.get("ancestorIds")
    if isinstance(ancestors, list):
        return ancestors
    parent = device.get("parentId")
    return [parent] if parent else []


def _connection_info(device: Mapping[str, Any]) -> Mapping[str, Any]:
    info = device.get("connectionInfo")
    return info if isinstance(info, Mapping) else {}


def _connection_status(device: Mapping[str, Any]) -> str:
    explicit = device.get("connectionStatus")
    if isinstance(explicit, str):
        return explicit
    connected = _connection_info(device).get("connected")
    if connected == 1:
        return "connected"
    if connected == 0:
        return "disconnected"
    return "neverConnected"


def _connection_time(state: int, field: str) -> Callable[[Mapping[str, Any]], Any]:
    def read(device: Mapping[str, Any]) -> Any:
        info = _connection_info(device)
        if info.get(field) is not None:
            return info[field]
        return info.get("time") if info.get("connected") == state else None

    return read


DEVICE_FIELDS: Mapping[str, QueryField] = {
    "id": QueryField(ID, _key("id", "deviceId")),
    "creationDate": QueryField(DATE, _key("creationDate")),
    "lastUpdated": QueryField(DATE, _key("lastUpdated")),
    "deletedAt": QueryField(DATE, _key("deletedAt")),
    "name": QueryField(TEXT, _key("name")),
    "deviceClass": QueryField(TEXT, _key("deviceClass")),
    "gatewayId": QueryField(ID, _key("gatewayId")),
    "parentId": QueryField(ID, _key("parentId")),
    "ancestorId": QueryField(ID, _ancestor_ids),
    "attributeName": QueryField(TEXT, _attribute_names),
    "experienceUserId": QueryField(ID, _unresolved),
    "experienceGroupId": QueryField(ID, _unresolved),
    "tags": QueryField(TAGS, _key("tags")),
    "disconnectedAt": QueryField(DATE, _connection_time(0, "disconnectedAt")),
    "connectedAt": QueryField(DATE, _connection_time(1, "connectedAt")),
    "connectionStatus": QueryField(TEXT, _connection_status),
}

EVENT_FIELDS: Mapping[str, QueryField] = {
    "id": QueryField(SEARCHABLE_ID, _key("id", "eventId")),
    "creationDate": QueryField(DATE, _key("creationDate")),
    "lastUpdated": QueryField(DATE, _key("lastUpdated")),
    "sourceId": QueryField(SEARCHABLE_ID, _key("sourceId")),
    "sourceType": QueryField(TEXT, _key("sourceType")),
    "level": QueryField(TEXT, _key("level")),
    "state": QueryField(TEXT, _key("state")),
    "subject": QueryField(TEXT, _key("subject")),
    "deviceId": QueryField(SEARCHABLE_ID, _key("deviceId")),
    "experienceUserId": QueryField(ID, _unresolved),
    "experienceGroupId": QueryField(ID, _unresolved),
    "eventTags": QueryField(TAGS, _key("eventTags")),
}

APPLICATION_KEY_FIELDS: Mapping[str, QueryField] = {
    "id": QueryField(ID, _key("id", "applicationKeyId")),
    "creationDate": QueryField(DATE, _key("creationDate")),
    "lastUpdated": QueryField(DATE, _key("lastUpdated")),
    "status": QueryField(TEXT, _key("status")),
    "deviceIds": QueryField(ID, _key("deviceIds")),
    "deviceTags": QueryField(TAGS, _key("deviceTags")),
    "key": QueryField(TEXT, _key("key")),
    "name": QueryField(TEXT, _key("name")),
    "description": QueryField(TEXT, _key("description")),
    "filterType": QueryField(TEXT, _key("filterType")),
    "pubTopics": QueryField(TEXT, _key("pubTopics")),
    "subTopics": QueryField(TEXT, _key("subTopics")),
    "addressFilterType": QueryField(TEXT, _key("addressFilterType")),
    "addresses": QueryField(TEXT, _key("addresses")),
}

# Experience users and groups are queried with their memberships precomputed
# on the item (``experienceGroupIds``, ``experienceUserIds``...): the models
# know the tree, the query engine does not.
EXPERIENCE_USER_FIELDS: Mapping[str, QueryField] = {
    "id": QueryField(ID, _key("id", "experienceUserId")),
    "creationDate": QueryField(DATE, _key("creationDate")),
    "lastUpdated": QueryField(DATE, _key("lastUpdated")),
    "lastLogin": QueryField(DATE, _key("lastLogin")),
    "passwordLastUpdated": QueryField(DATE, _key("passwordLastUpdated")),
    "firstName": QueryField(TEXT, _key("firstName")),
    "lastName": QueryField(TEXT, _key("lastName")),
    "email": QueryField(TEXT, _key("email")),
    "userTags": QueryField(TAGS, _key("userTags")),
    "experienceGroupId": QueryField(ID, _key("experienceGroupIds")),
}

EXPERIENCE_GROUP_FIELDS: Mapping[str, QueryField] = {
    "id": QueryField(ID, _key("id", "experienceGroupId")),
    "creationDate": QueryField(DATE, _key("creationDate")),
    "lastUpdated": QueryField(DATE, _key("lastUpdated")),
    "name": QueryField(TEXT, _key("name")),
    "parentId": QueryField(ID, _key("parentId")),
    "ancestorId": QueryField(ID, _key("ancestorIds")),
    "groupTags": QueryField(TAGS, _key("groupTags")),
    "experienceUserId": QueryField(ID, _key("experienceUserIds")),
    "experienceEndpointId": QueryField(ID, _key("experienceEndpointIds")),
}

Resolvers = Mapping[str, Callable[[Mapping[str, Any]], Any]]


def device_value(device: Mapping[str, Any], field: str) -> Any:
    """The value an advanced query (or a sort) sees for a device field.

    Handy as a sort key for derived fields: ``connectionStatus`` is read from
    ``connectionInfo``, not stored on the device.
    """
    spec = DEVICE_FIELDS.get(field)
    return spec.read(device) if spec else device.get(field)


def compile_device_query(query: Any, *, resolvers: Resolvers | None = None) -> Predicate:
    """Compile an ``advancedDeviceQuery`` into a predicate over API-shaped devices.

    Logical: ``$and``/``$or``/``$nor`` take arrays of sub-queries; keys of one
    object are ANDed. As the platform documents, an empty ``$and`` or ``$or``
    matches everything and an empty ``$nor`` matches nothing.

    Fields: ``id``, ``gatewayId``, ``parentId``, ``ancestorId`` (any of
    ``ancestorIds``), ``experienceUserId``/``experienceGroupId`` compare as ids
    (case-insensitive hex). ``name``, ``deviceClass``, ``attributeName`` (any
    attribute's name) and ``connectionStatus`` (``connected``/``disconnected``/
    ``neverConnected``, from ``connectionInfo.connected``) compare as text.
    ``creationDate``, ``lastUpdated``, ``deletedAt``, ``connectedAt`` and
    ``disconnectedAt`` (``connectionInfo.time`` of the matching state) compare
    as instants. See :func:`compile_operand` for the operators.

    ``tags``: ``null`` (no tags); ``{"$tagKey": k, "$tagValue": v}`` (some one
    tag matches both; each side a string, ``{"$in": [...]}``, ``{"$nin": [...]}``
    or null for "any"); ``{key: value, ...}`` (for every pair some tag matches,
    same value forms); any of those wrapped in ``{"$eq": ...}`` or negated by
    ``{"$ne": ...}``. Tag keys and values are case-sensitive.

    ``resolvers`` maps a field name to a function reading it off a device, for
    relations the device dict does not carry (``experienceUserId``...).
    """
    return _compile_resource_query(query, "device", DEVICE_FIELDS, resolvers)


def compile_event_query(query: Any, *, resolvers: Resolvers | None = None) -> Predicate:
    """Compile an ``advancedEventQuery``; same engine and rules as devices.

    ``eventTags`` is stored as an object map and queried like device ``tags``.
    """
    return _compile_resource_query(query, "event", EVENT_FIELDS, resolvers)


def compile_application_key_query(query: Any, *, resolvers: Resolvers | None = None) -> Predicate:
    """Compile an ``advancedApplicationKeyQuery``; same engine and rules.

    ``deviceIds``, ``pubTopics``, ``subTopics`` and ``addresses`` are arrays:
    an operator matches if any element does. Unknown fields are refused even
    though this schema leaves ``additionalProperties`` open: a typo should fail
    loudly, not silently select nothing.
    """
    return _compile_resource_query(query, "application key", APPLICATION_KEY_FIELDS, resolvers)


def compile_experience_user_query(query: Any) -> Predicate:
    """Compile an ``advancedExperienceUserQuery`` over users carrying ``experienceGroupIds``."""
    return _compile_resource_query(query, "experience user", EXPERIENCE_USER_FIELDS, None)


def compile_experience_group_query(query: Any) -> Predicate:
    """Compile an ``advancedExperienceGroupQuery`` over rendered groups (``ancestorIds``...)."""
    return _compile_resource_query(query, "experience group", EXPERIENCE_GROUP_FIELDS, None)


def _compile_resource_query(
    query: Any, resource: str, fields: Mapping[str, QueryField], resolvers: Resolvers | None
) -> Predicate:
    if resolvers:
        unknown = set(resolvers) - set(fields)
        if unknown:
            raise ValueError(f"no {resource} query fields named {sorted(unknown)}")
        overrides = {name: QueryField(fields[name].kind, read) for name, read in resolvers.items()}
        fields = {**fields, **overrides}
    if query is None or query == "":
        return match_all
    return _QueryCompiler(resource, fields).compile(query, depth=0)


@dataclass(frozen=True)
class _QueryCompiler:
    resource: str
    fields: Mapping[str, QueryField]

    def compile(self, query: Any, *, depth: int) -> Predicate:
        if depth > MAX_NESTING:
            raise ValidationError(f"Advanced {self.resource} query is nested too deeply")
        if not isinstance(query, Mapping):
            raise ValidationError(f"Advanced {self.resource} query must be an object")
        predicates = []
        for name, spec in query.items():
            if name in LOGICAL_OPERATORS:
                predicates.append(self._logical(name, spec, depth))
            elif name in self.fields:
                predicates.append(self._field(name, self.fields[name], spec))
            elif str(name).startswith("$"):
                raise ValidationError(f"Unknown operator {name} in advanced {self.resource} query")
            else:
                raise ValidationError(f"Unknown field '{name}' in advanced {self.resource} query")
        return all_of(predicates)

    def _logical(self, name: str, spec: Any, depth: int) -> Predicate:
        if not isinstance(spec, list):
            raise ValidationError(f"{name} must be an array of queries")
        parts = [self.compile(sub, depth=depth + 1) for sub in spec]
        if name == "$and":
            return all_of(parts)
        if not parts:  # documented: no filters = all for $or, none for $nor
            return (lambda _item: True) if name == "$or" else (lambda _item: False)
        if name == "$or":
            return lambda item: any(p(item) for p in parts)
        return lambda item: not any(p(item) for p in parts)

    def _field(self, name: str, field: QueryField, spec: Any) -> Predicate:
        if field.kind == TAGS:
            test = compile_tags(name, spec)
        else:
            test = compile_operand(name, field.kind, spec)
        read = field.read
        return lambda item: test(read(item))


