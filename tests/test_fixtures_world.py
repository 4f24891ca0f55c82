"""World documents: the seeded builder, world files, and their completion.

Generated worlds must be reproducible, realistic and faithful to the
platform's own resource schemas (checked against the reference schemas when
they are present next to the repository); world files must fail loudly,
naming the file and the JSON path of whatever is wrong.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from losant_kit.fixtures import DEFAULT_SEED, DEFAULT_USER_EMAIL, DEFAULT_USER_PASSWORD
from losant_kit.fixtures.devices import device_roles
from losant_kit.fixtures.domains import DOMAINS
from losant_kit.fixtures.examples import spec_examples
from losant_kit.fixtures.experiences import EXPERIENCE_COLLECTIONS
from losant_kit.fixtures.ids import ID_EPOCH, OBJECT_ID, ObjectIdFactory
from losant_kit.fixtures.loader import (
    WorldFileError,
    complete_world,
    load_world_file,
    validate_world,
)
from losant_kit.fixtures.validation import world_schema
from losant_kit.fixtures.world import READ_ONLY_TOKEN_SCOPE, build_world

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_WORLD = REPO / "fixtures" / "example-world.yaml"
# The platform's schemas live beside the repository (../shared), in CI too;
# tests comparing against them skip where that checkout is absent.
REFERENCE_SCHEMAS = REPO.parent / "shared" / "reference" / "losant-api" / "schemas"
needs_reference = pytest.mark.skipif(
    not REFERENCE_SCHEMAS.is_dir(), reason=f"reference schemas not found at {REFERENCE_SCHEMAS}"
)

TWO_USERS = [("ada@example.com", "ada-password"), ("grace@example.com", "grace-password")]


@pytest.fixture(scope="module")
def default_world() -> dict[str, Any]:
    return build_world(DEFAULT_SEED)


@pytest.fixture(
    scope="module",
    params=["default", "two users, large applications"],
)
def world(request: pytest.FixtureRequest, default_world: dict[str, Any]) -> dict[str, Any]:
    if request.param == "default":
        return default_world
    return build_world(7, users=TWO_USERS, applications_per_user=3, devices_per_application=40)


@pytest.fixture(scope="module")
def every_domain_world() -> dict[str, Any]:
    # One user with as many applications as there are domains gets each once.
    return build_world(6, applications_per_user=len(DOMAINS), devices_per_application=40)


def _devices(world: dict[str, Any]) -> list[dict[str, Any]]:
    return [device for app in world["applications"] for device in app["devices"]]


def _tag(record: dict[str, Any], key: str) -> str | None:
    return next((t["value"] for t in record["tags"] if t["key"] == key), None)


@functools.cache
def _reference(name: str) -> dict[str, Any]:
    return json.loads((REFERENCE_SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


@functools.cache
def _reference_validator(name: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_reference(name))


def _assert_conforms(record: dict[str, Any], schema_name: str, world_only: set[str]) -> None:
    """The record's API fields pass the platform's schema; the others are the world's own."""
    known = set(_reference(schema_name)["properties"])
    assert set(record) - known <= world_only, f"fields unknown to {schema_name}"
    _reference_validator(schema_name).validate({k: v for k, v in record.items() if k in known})


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_builds_byte_identical_worlds() -> None:
    assert json.dumps(build_world(5)) == json.dumps(build_world(5))


def test_same_seed_builds_the_same_world_in_another_process() -> None:
    # Different hash seeds catch any dependence on set or dict-of-str order.
    script = "import json; from fixtures import build_world; print(json.dumps(build_world(5)))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert outputs == {json.dumps(build_world(5)) + "\n"}


def test_the_first_logins_first_resources_carry_the_spec_example_ids() -> None:
    examples = spec_examples()
    world = build_world(5)
    app = world["applications"][0]
    assert app["owner"] == world["users"][0]["email"]
    assert app["id"] == examples["applicationId"]
    assert app["devices"][0]["id"] == examples["deviceId"]
    assert examples["name"] in {a["name"] for a in app["devices"][0]["attributes"]}
    assert app["keys"][0]["id"] == examples["applicationKeyId"]
    assert app["tokens"][0]["id"] == examples["apiTokenId"]
    assert app["recipes"][0]["id"] == examples["deviceRecipeId"]


def test_different_seeds_build_different_worlds() -> None:
    first, second = build_world(1), build_world(2)
    assert first != second
    # Every generated id differs; only the spec's example ids are shared.
    examples = set(spec_examples().values())
    assert {a["id"] for a in first["applications"]}.isdisjoint(
        a["id"] for a in second["applications"] if a["id"] not in examples
    )


def test_building_a_world_leaves_the_global_random_state_alone() -> None:
    state = random.getstate()
    build_world(3)
    assert random.getstate() == state


# --- users and applications -----------------------------------------------------------------


def test_default_world_has_one_user_with_the_default_login(default_world: dict[str, Any]) -> None:
    [user] = default_world["users"]
    assert (user["email"], user["password"]) == (DEFAULT_USER_EMAIL, DEFAULT_USER_PASSWORD)
    assert user["firstName"] and user["lastName"]


def test_each_given_user_owns_applications_per_user() -> None:
    world = build_world(4, users=TWO_USERS, applications_per_user=3, devices_per_application=2)
    assert [u["email"] for u in world["users"]] == [email for email, _ in TWO_USERS]
    for user in world["users"]:
        owned = [a for a in world["applications"] if a["ownerId"] == user["id"]]
        assert len(owned) == 3
        assert all(a["owner"] == user["email"] for a in owned)


def test_application_names_are_unique(world: dict[str, Any]) -> None:
    names = [app["name"] for app in world["applications"]]
    assert len(names) == len(set(names))


def test_building_with_negative_counts_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        build_world(1, devices_per_application=-1)


@pytest.mark.parametrize("count", [0, 1, 2, 3, 6, 12, 25, 100])
def test_each_application_gets_exactly_the_requested_number_of_devices(count: int) -> None:
    world = build_world(9, applications_per_user=2, devices_per_application=count)
    assert [len(app["devices"]) for app in world["applications"]] == [count, count]
    assert sum(device_roles(count)) == count


# --- devices --------------------------------------------------------------------------------


def test_every_application_has_a_gateway_with_peripherals(world: dict[str, Any]) -> None:
    for app in world["applications"]:
        gateway_ids = {d["id"] for d in app["devices"] if d["deviceClass"] == "gateway"}
        served = {d["gatewayId"] for d in app["devices"] if d["deviceClass"] == "peripheral"}
        assert gateway_ids & served, app["name"]


def test_peripherals_report_through_a_gateway_of_their_own_application(
    world: dict[str, Any],
) -> None:
    for app in world["applications"]:
        by_id = {d["id"]: d for d in app["devices"]}
        for device in app["devices"]:
            if "gatewayId" in device:
                assert device["deviceClass"] == "peripheral"
                gateway = by_id[device["gatewayId"]]
                assert gateway["deviceClass"] == "gateway"
                assert gateway["name"] == device["gateway"]


def test_parents_are_system_devices_of_the_same_application(world: dict[str, Any]) -> None:
    for app in world["applications"]:
        by_id = {d["id"]: d for d in app["devices"]}
        parented = [d for d in app["devices"] if d.get("parentId")]
        assert parented, app["name"]
        for device in parented:
            assert by_id[device["parentId"]]["deviceClass"] == "system"


def test_device_names_are_unique_within_an_application(world: dict[str, Any]) -> None:
    for app in world["applications"]:
        names = [d["name"] for d in app["devices"]]
        assert len(names) == len(set(names))


def test_connected_devices_are_tagged_with_location_model_and_firmware(
    world: dict[str, Any],
) -> None:
    for device in _devices(world):
        if device["deviceClass"] in ("gateway", "peripheral", "standalone"):
            for key in ("location", "model", "firmware"):
                assert _tag(device, key), (device["name"], key)


@pytest.mark.parametrize(
    ("attribute", "data_type"),
    [
        ("temperature", "number"),
        ("humidity", "number"),
        ("door", "string"),
        ("online", "boolean"),
        ("location", "gps"),
    ],
)
def test_common_attributes_have_sensible_data_types(
    every_domain_world: dict[str, Any], attribute: str, data_type: str
) -> None:
    found = [
        a["dataType"]
        for d in _devices(every_domain_world)
        for a in d["attributes"]
        if a["name"] == attribute
    ]
    assert found, f"no device reports {attribute}"
    assert set(found) == {data_type}


# --- access keys and tokens -----------------------------------------------------------------


def test_each_application_has_a_key_for_all_devices(world: dict[str, Any]) -> None:
    for app in world["applications"]:
        assert any(k["filterType"] == "all" for k in app["keys"]), app["name"]


def test_each_application_has_a_key_restricted_to_a_tag_its_devices_carry(
    world: dict[str, Any],
) -> None:
    for app in world["applications"]:
        [restricted] = [k for k in app["keys"] if k["filterType"] == "whitelist"]
        assert restricted["deviceIds"] == []
        [tag] = restricted["deviceTags"]
        assert any(tag in d["tags"] for d in app["devices"]), app["name"]


def test_access_keys_and_secrets_are_generated_and_unique(world: dict[str, Any]) -> None:
    keys = [k for app in world["applications"] for k in app["keys"]]
    assert len({k["key"] for k in keys}) == len(keys)
    assert all(len(k["secret"]) == 64 for k in keys)


def test_each_application_has_a_narrow_scope_token(world: dict[str, Any]) -> None:
    for app in world["applications"]:
        [token] = app["tokens"]
        assert token["scope"] == list(READ_ONLY_TOKEN_SCOPE)
        assert not any(scope.startswith("all.") for scope in token["scope"])
        assert "token" not in token  # the store signs it


# --- ids ------------------------------------------------------------------------------------


def test_ids_are_unique_lowercase_24_hex(world: dict[str, Any]) -> None:
    ids = [u["id"] for u in world["users"]]
    for app in world["applications"]:
        ids.append(app["id"])
        for collection in ("devices", "keys", "tokens", "recipes"):
            ids += [record["id"] for record in app[collection]]
    assert all(OBJECT_ID.match(i) for i in ids)
    assert len(ids) == len(set(ids))


def test_ids_carry_plausible_creation_times_from_the_fixed_epoch(
    default_world: dict[str, Any],
) -> None:
    examples = set(spec_examples().values())
    ids = [u["id"] for u in default_world["users"]] + [d["id"] for d in _devices(default_world)]
    ids = [i for i in ids if i not in examples]  # the spec's own ids date from 2016
    times = [datetime.fromtimestamp(int(i[:8], 16), tz=UTC) for i in ids]
    assert all(ID_EPOCH <= t < ID_EPOCH + timedelta(days=30) for t in times)
    assert times == sorted(times)  # ids sort by creation, as ObjectIds do


def test_id_factory_skips_ids_already_taken() -> None:
    first = ObjectIdFactory(random.Random(0)).next_id()
    assert ObjectIdFactory(random.Random(0), taken=[first]).next_id() != first


# --- conformance to the platform's schemas --------------------------------------------------


def test_generated_world_is_a_valid_world_document(world: dict[str, Any]) -> None:
    validate_world(world)


@needs_reference
def test_generated_devices_conform_to_the_device_schema(world: dict[str, Any]) -> None:
    for device in _devices(world):
        _assert_conforms(device, "devicePost", {"id", "gateway", "parent", "creationDate"})
        _assert_conforms(device, "device", {"gateway", "parent"})


@needs_reference
def test_generated_applications_conform_to_the_application_schema(world: dict[str, Any]) -> None:
    collections = {"devices", "keys", "tokens", "recipes", *EXPERIENCE_COLLECTIONS}
    for app in world["applications"]:
        _assert_conforms(
            app, "applicationPost", {"id", "owner", "ownerId", "creationDate"} | collections
        )
        _assert_conforms(app, "application", {"owner"} | collections)


@needs_reference
def test_generated_access_keys_conform_to_the_application_key_schema(world: dict[str, Any]) -> None:
    for app in world["applications"]:
        for key in app["keys"]:
            _assert_conforms(
                key, "applicationKeyPost", {"id", "key", "secret", "status", "creationDate"}
            )
            _assert_conforms(key, "applicationKeyPostResponse", set())


@needs_reference
def test_generated_tokens_conform_to_the_application_api_token_schema(
    world: dict[str, Any],
) -> None:
    for app in world["applications"]:
        for token in app["tokens"]:
            _assert_conforms(token, "applicationApiTokenPost", {"id", "creationDate"})


@needs_reference
def test_generated_recipes_conform_to_the_device_recipe_schema(world: dict[str, Any]) -> None:
    for app in world["applications"]:
        for recipe in app["recipes"]:
            _assert_conforms(
                recipe, "deviceRecipePost", {"id", "gateway", "parent", "creationDate"}
            )


@needs_reference
def test_generated_experiences_conform_to_the_experience_schemas(world: dict[str, Any]) -> None:
    world_only = {"id", "creationDate", "groups", "parent", "devices"}
    schemas = {
        "experienceGroups": "experienceGroupPost",
        "experienceUsers": "experienceUserPost",
        "experienceEndpoints": "experienceEndpointPost",
        "experienceSlugs": "experienceSlugPost",
        "experienceDomains": "experienceDomainPost",
    }
    seen = 0
    for app in world["applications"]:
        for collection, schema_name in schemas.items():
            for record in app[collection]:
                _assert_conforms(record, schema_name, world_only)
                seen += 1
    assert seen > 0


@needs_reference
def test_generated_users_conform_to_the_user_schema(world: dict[str, Any]) -> None:
    for user in world["users"]:
        # The password is the world's own: the platform never returns it.
        _assert_conforms(user, "me", {"password"})


@needs_reference
@pytest.mark.parametrize(
    ("world_definition", "reference", "pointer"),
    [
        ("deviceClass", "devicePost", ["properties", "deviceClass"]),
        ("attribute", "devicePost", ["properties", "attributes", "items"]),
        ("tag", "devicePost", ["properties", "tags", "items"]),
        ("status", "applicationKey", ["properties", "status"]),
    ],
)
def test_world_schema_enums_and_patterns_match_the_platform(
    world_definition: str, reference: str, pointer: list[str]
) -> None:
    ours = world_schema()["definitions"][world_definition]
    theirs: Any = _reference(reference)
    for step in pointer:
        theirs = theirs[step]
    if "enum" in theirs:
        assert ours["enum"] == theirs["enum"]
    else:
        for field, spec in theirs["properties"].items():
            if "enum" in spec:
                assert ours["properties"][field]["enum"] == spec["enum"], field
            if "pattern" in spec:
                ref = ours["properties"][field].get("$ref", "")
                resolved = world_schema()["definitions"][ref.rsplit("/", 1)[-1]] if ref else {}
                pattern = ours["properties"][field].get("pattern") or resolved.get("pattern")
                assert pattern == spec["pattern"], field


@needs_reference
def test_world_filter_types_are_the_platforms() -> None:
    theirs = _reference("applicationKeyPost")["properties"]["filterType"]["oneOf"]
    ours = world_schema()["definitions"]["accessKey"]["properties"]["filterType"]["enum"]
    assert ours == [value for option in theirs for value in option["enum"]]


# --- the package stays light ----------------------------------------------------------------


def test_importing_the_package_loads_neither_faker_nor_jsonschema() -> None:
    script = (
        "import sys, fixtures; fixtures.DEFAULT_USER_EMAIL; "
        "print(sorted(m for m in ('faker', 'jsonschema', 'yaml') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- the example world file -----------------------------------------------------------------


def test_example_world_loads() -> None:
    world = load_world_file(EXAMPLE_WORLD)
    assert [u["email"] for u in world["users"]] == ["dev@example.com", "ops@example.com"]


def _declared_fields(schema: dict[str, Any]) -> set[str]:
    """Every "<definition>.<field>" of the world schema, inline objects included."""
    fields: set[str] = set()

    def walk(node: dict[str, Any], where: str) -> None:
        for name, spec in node.get("properties", {}).items():
            fields.add(f"{where}.{name}")
            walk(spec, f"{where}.{name}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], where)

    walk(schema, "$")
    for name, definition in schema["definitions"].items():
        walk(definition, name)
    return fields


def _used_fields(schema: dict[str, Any], node: dict[str, Any], value: Any, where: str) -> set[str]:
    if "$ref" in node:
        where = node["$ref"].rsplit("/", 1)[-1]
        node = schema["definitions"][where]
    used: set[str] = set()
    if isinstance(value, dict):
        for name, item in value.items():
            if name in node.get("properties", {}):
                used.add(f"{where}.{name}")
                used |= _used_fields(schema, node["properties"][name], item, f"{where}.{name}")
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            used |= _used_fields(schema, node["items"], item, where)
    return used


def test_example_world_uses_every_field_of_the_format() -> None:
    schema = world_schema()
    used = _used_fields(schema, schema, load_world_file(EXAMPLE_WORLD), "$")
    assert _declared_fields(schema) - used == set()


def test_example_world_uses_every_device_class_and_filter_type() -> None:
    world = load_world_file(EXAMPLE_WORLD)
    definitions = world_schema()["definitions"]
    classes = {
        d.get("deviceClass", "standalone") for a in world["applications"] for d in a["devices"]
    }
    filters = {k["filterType"] for a in world["applications"] for k in a.get("keys", [])}
    assert classes == set(definitions["deviceClass"]["enum"])
    assert filters == set(definitions["accessKey"]["properties"]["filterType"]["enum"])


def test_json_world_files_load(tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    path.write_text(json.dumps(load_world_file(EXAMPLE_WORLD)), encoding="utf-8")
    assert load_world_file(path) == load_world_file(EXAMPLE_WORLD)


# --- errors in world files ------------------------------------------------------------------


def _minimal_world() -> dict[str, Any]:
    return {
        "users": [{"email": "dev@example.com", "password": "pw"}],
        "applications": [
            {
                "name": "Greenhouse",
                "owner": "dev@example.com",
                "devices": [
                    {"name": "Hub", "deviceClass": "gateway"},
                    {"name": "Probe", "deviceClass": "peripheral", "gateway": "Hub"},
                    {"name": "Site", "deviceClass": "system"},
                ],
                "keys": [{"deviceIds": ["Probe"]}],
            }
        ],
    }


def _load_error(tmp_path: Path, world: Any, name: str = "world.yaml") -> WorldFileError:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(world), encoding="utf-8")
    with pytest.raises(WorldFileError) as raised:
        load_world_file(path)
    assert str(path) in str(raised.value)
    return raised.value


def _edited(edit: Any) -> dict[str, Any]:
    world = _minimal_world()
    edit(world)
    return world


def test_minimal_world_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "world.yml"
    path.write_text(yaml.safe_dump(_minimal_world()), encoding="utf-8")
    assert load_world_file(path) == _minimal_world()


def test_a_bad_value_is_reported_with_file_and_json_path(tmp_path: Path) -> None:
    world = _edited(lambda w: w["applications"][0]["devices"][1].update(deviceClass="sensor"))
    error = _load_error(tmp_path, world)
    assert "$.applications[0].devices[1].deviceClass" in str(error)
    assert "'sensor'" in str(error)


def test_an_unknown_field_is_named_with_a_suggestion(tmp_path: Path) -> None:
    world = _edited(lambda w: w["applications"][0]["devices"][0].update(devcieClass="gateway"))
    error = _load_error(tmp_path, world)
    assert error.problems[0].path == "$.applications[0].devices[0].devcieClass"
    assert "did you mean 'deviceClass'" in error.problems[0].message


def test_a_missing_required_field_is_named(tmp_path: Path) -> None:
    world = _edited(lambda w: w["users"][0].pop("password"))
    error = _load_error(tmp_path, world)
    assert [p.path for p in error.problems] == ["$.users[0].password"]


def test_an_unquoted_yaml_number_is_reported_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "world.yaml"
    path.write_text(
        "users: [{email: dev@example.com, password: pw}]\n"
        "applications:\n"
        "  - name: Office\n"
        "    owner: dev@example.com\n"
        "    devices: [{name: Thermostat, tags: [{key: floor, value: 3}]}]\n",
        encoding="utf-8",
    )
    with pytest.raises(WorldFileError) as raised:
        load_world_file(path)
    [problem] = raised.value.problems
    assert problem.path == "$.applications[0].devices[0].tags[0].value"
    assert "quote it" in problem.message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    def edit(world: dict[str, Any]) -> None:
        world["users"][0]["email"] = "not-an-email"
        world["applications"][0]["devices"][0]["tags"] = [{"key": "bad key!", "value": "x"}]

    paths = {p.path for p in _load_error(tmp_path, _edited(edit)).problems}
    assert paths == {"$.users[0].email", "$.applications[0].devices[0].tags[0].key"}


def test_an_unknown_gateway_is_reported(tmp_path: Path) -> None:
    world = _edited(lambda w: w["applications"][0]["devices"][1].update(gateway="Nope"))
    [problem] = _load_error(tmp_path, world).problems
    assert problem.path == "$.applications[0].devices[1].gateway"
    assert "'Nope'" in problem.message


def test_a_gateway_must_be_a_gateway_class_device(tmp_path: Path) -> None:
    world = _edited(lambda w: w["applications"][0]["devices"][1].update(gateway="Site"))
    [problem] = _load_error(tmp_path, world).problems
    assert problem.path == "$.applications[0].devices[1].gateway"
    assert "system" in problem.message


def test_only_peripherals_have_a_gateway(tmp_path: Path) -> None:
    world = _edited(lambda w: w["applications"][0]["devices"][2].update(gateway="Hub"))
    [problem] = _load_error(tmp_path, world).problems
    assert problem.path == "$.applications[0].devices[2].gateway"


def test_a_parent_must_be_a_system_device(tmp_path: Path) -> None:
    world = _edited(lambda w: w["applications"][0]["devices"][1].update(parent="Hub"))
    [problem] = _load_error(tmp_path, world).problems
    assert problem.path == "$.applications[0].devices[1].parent"


def test_a_parent_loop_is_reported(tmp_path: Path) -> None:
    def edit(world: dict[str, Any]) -> None:
        world["applications"][0]["devices"] += [
            {"name": "North", "deviceClass": "system", "parent": "South"},
            {"name": "South", "deviceClass": "system", "parent": "North"},
        ]

    problems = _load_error(tmp_path, _edited(edit)).problems
    assert {p.path for p in problems} == {
        "$.applications[0].devices[3].parent",
        "$.applications[0].devices[4].parent",
    }


def test_an_unknown_owner_is_reported(tmp_path: Path) -> None:
    world = _edited(lambda w: w["applications"][0].update(owner="nobody@example.com"))
    [problem] = _load_error(tmp_path, world).problems
    assert problem.path == "$.applications[0].owner"


def test_an_owner_id_disagreeing_with_the_owner_is_reported(tmp_path: Path) -> None:
    world = _edited(lambda w: w["applications"][0].update(ownerId="0" * 24))
    [problem] = _load_error(tmp_path, world).problems
    assert problem.path == "$.applications[0].ownerId"


def test_an_unknown_key_device_is_reported(tmp_path: Path) -> None:
    world = _edited(lambda w: w["applications"][0]["keys"][0]["deviceIds"].append("Ghost"))
    [problem] = _load_error(tmp_path, world).problems
    assert problem.path == "$.applications[0].keys[0].deviceIds[1]"


def test_a_key_for_all_devices_with_a_device_list_is_reported(tmp_path: Path) -> None:
    world = _edited(lambda w: w["applications"][0]["keys"][0].update(filterType="all"))
    [problem] = _load_error(tmp_path, world).problems
    assert problem.path == "$.applications[0].keys[0].filterType"


def test_duplicate_device_names_are_reported(tmp_path: Path) -> None:
    world = _edited(lambda w: w["applications"][0]["devices"].append({"name": "Hub"}))
    [problem] = _load_error(tmp_path, world).problems
    assert problem.path == "$.applications[0].devices[3].name"


def test_duplicate_ids_are_reported(tmp_path: Path) -> None:
    def edit(world: dict[str, Any]) -> None:
        world["users"][0]["id"] = "a" * 24
        world["applications"][0]["devices"][0]["id"] = "a" * 24

    [problem] = _load_error(tmp_path, _edited(edit)).problems
    assert problem.path == "$.applications[0].devices[0].id"
    assert "$.users[0]" in problem.message


def test_duplicate_access_keys_are_reported(tmp_path: Path) -> None:
    def edit(world: dict[str, Any]) -> None:
        world["applications"][0]["keys"] = [{"key": "same"}, {"key": "same"}]

    [problem] = _load_error(tmp_path, _edited(edit)).problems
    assert problem.path == "$.applications[0].keys[1].key"


def test_a_global_must_hold_json_text(tmp_path: Path) -> None:
    world = _edited(lambda w: w["applications"][0].update(globals=[{"key": "k", "json": "ops"}]))
    [problem] = _load_error(tmp_path, world).problems
    assert problem.path == "$.applications[0].globals[0].json"


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("users:\n  - email: [unclosed\n", encoding="utf-8")
    with pytest.raises(WorldFileError, match=r"broken\.yaml: \$: not YAML \(line \d+"):
        load_world_file(path)


def test_a_json_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"users": [}', encoding="utf-8")
    with pytest.raises(WorldFileError, match=r"broken\.json: \$: not JSON \(line 1"):
        load_world_file(path)


def test_a_document_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    error = _load_error(tmp_path, ["users"])
    assert error.problems[0].path == "$"


def test_an_unsupported_extension_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "world.toml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(WorldFileError, match="yaml"):
        load_world_file(path)


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(WorldFileError, match=r"missing\.yaml"):
        load_world_file(tmp_path / "missing.yaml")


# --- completion -----------------------------------------------------------------------------


def test_completion_fills_in_ids_keys_secrets_and_defaults() -> None:
    completed = complete_world(_minimal_world(), seed=1)
    app = completed["applications"][0]
    assert OBJECT_ID.match(completed["users"][0]["id"])
    assert OBJECT_ID.match(app["id"])
    [key] = app["keys"]
    assert key["key"] and len(key["secret"]) == 64
    assert (key["filterType"], key["status"]) == ("whitelist", "active")
    assert app["tokens"] == [] and app["globals"] == []
    assert all(d["creationDate"].endswith("Z") for d in app["devices"])


def test_completion_resolves_names_to_ids() -> None:
    completed = complete_world(_minimal_world(), seed=1)
    app = completed["applications"][0]
    hub, probe, _ = app["devices"]
    assert app["ownerId"] == completed["users"][0]["id"]
    assert probe["gatewayId"] == hub["id"]
    assert app["keys"][0]["deviceIds"] == [probe["id"]]


def test_completion_keeps_given_ids_keys_and_secrets() -> None:
    written = load_world_file(EXAMPLE_WORLD)
    completed = complete_world(written, seed=1)
    assert completed["users"][1]["id"] == written["users"][1]["id"]
    pinned = completed["applications"][0]["keys"][1]
    assert (pinned["key"], pinned["secret"]) == (
        written["applications"][0]["keys"][1]["key"],
        written["applications"][0]["keys"][1]["secret"],
    )
    assert completed["applications"][0]["tokens"][0]["token"] == "example-ci-token"


def test_completion_is_deterministic_per_seed() -> None:
    written = load_world_file(EXAMPLE_WORLD)
    assert json.dumps(complete_world(written, 3)) == json.dumps(complete_world(written, 3))
    assert complete_world(written, 3) != complete_world(written, 4)


def test_completing_a_completed_world_changes_nothing(default_world: dict[str, Any]) -> None:
    once = complete_world(load_world_file(EXAMPLE_WORLD), 2)
    assert complete_world(once, 99) == once
    assert complete_world(default_world, 99) == default_world


def test_completion_leaves_its_input_alone() -> None:
    written = _minimal_world()
    before = copy.deepcopy(written)
    complete_world(written, 1)
    assert written == before


def test_completion_refuses_an_invalid_world() -> None:
    world = _edited(lambda w: w["applications"][0].update(owner="nobody@example.com"))
    with pytest.raises(WorldFileError, match=r"<world>: \$\.applications\[0\]\.owner"):
        complete_world(world, 1)


def test_devices_with_ids_may_share_a_name_as_on_the_platform(tmp_path: Path) -> None:
    def edit(world: dict[str, Any]) -> None:
        world["applications"][0]["devices"] = [
            {"name": "Twin", "id": "a" * 24}, {"name": "Twin", "id": "b" * 24}]
        world["applications"][0]["keys"] = []

    path = tmp_path / "world.json"
    path.write_text(json.dumps(_edited(edit)), encoding="utf-8")
    devices = load_world_file(path)["applications"][0]["devices"]
    assert [d["name"] for d in devices] == ["Twin", "Twin"]


def test_a_reference_by_a_shared_device_name_is_reported(tmp_path: Path) -> None:
    def edit(world: dict[str, Any]) -> None:
        world["applications"][0]["devices"] = [
            {"name": "Twin", "id": "a" * 24, "deviceClass": "gateway"},
            {"name": "Twin", "id": "b" * 24, "deviceClass": "gateway"},
            {"name": "Probe", "deviceClass": "peripheral", "gateway": "Twin"}]
        world["applications"][0]["keys"] = []

    [problem] = _load_error(tmp_path, _edited(edit)).problems
    assert problem.path == "$.applications[0].devices[2].gateway"
    assert "use the id" in problem.message
