"""Build the kit's OpenAPI 3.0.3 spec from the platform's reference description.

    python -m losant_kit.specs.generate --reference ../shared/reference [--out specs] [--check]

Inputs (read-only): ``losant-api/apiInfo.json`` (actions, params, responses),
``losant-api/schemas/*.json`` (draft-07), ``losant-api/scopes.json``,
the scope lists (``SCOPE_FILES``: the 102 device/auth/application actions and
the 29 experience actions) and ``throttles.yaml``.
Output: ``openapi.json`` plus the generated deviations section of
``README.md``. Descriptions are the kit's own; none are copied.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from losant_kit.specs import constraints, openapi31, rules
from losant_kit.specs import schemas as sch

SPEC_FILE = "openapi.json"
OPENAPI_VERSION = "3.0.3"
LOWERED = "#/components/schemas/"
EXACT = "#/components/x-jsonschema/"
DEVIATIONS_START = "<!-- generated:deviations:start -->"
DEVIATIONS_END = "<!-- generated:deviations:end -->"
# The action lists that make up the kit's scope; the spec serves their union.
SCOPE_FILES = ("scope.json", "scope-experience.json")

# Query parameters and the header that the official clients send on every call.
GLOBAL_PARAMETERS: dict[str, dict[str, Any]] = {
    "_actions": {
        "name": "_actions",
        "in": "query",
        "required": False,
        "description": "Include the resource's action descriptors (official clients send it).",
        "schema": {"type": "string", "enum": ["true", "false"], "default": "false"},
    },
    "_links": {
        "name": "_links",
        "in": "query",
        "required": False,
        "description": "Include hypermedia links (official clients send it).",
        "schema": {"type": "string", "enum": ["true", "false"], "default": "true"},
    },
    "_embedded": {
        "name": "_embedded",
        "in": "query",
        "required": False,
        "description": "Include embedded resources (official clients send it).",
        "schema": {"type": "string", "enum": ["true", "false"], "default": "true"},
    },
    "losantdomain": {
        "name": "losantdomain",
        "in": "header",
        "required": False,
        "description": "Domain the request is scoped to; rarely needed.",
        "schema": {"type": "string"},
    },
}

# Action-level corrections of apiInfo.json, each listed in specs/README.md.
# Keyed by (resource, action); the value says what was wrong and what we use.
ACTION_FIXES: dict[tuple[str, str], str] = {
    ("userApiTokens", "get"): (
        "200 response refers to `apiToken` (one token); the action returns the "
        "`apiTokens` collection, as `applicationApiTokens.get` and the official "
        "clients' documentation say. Spec uses `apiTokens`."
    ),
}

# Schema widenings for documented behaviour the published schemas omit, each
# listed in specs/README.md. (schema, JSON pointer of the property) -> why.
OBJECT_FORM_NOTE = (
    "the `{flag}` query flag renders this property as an object keyed by {key}; the "
    "published schema only admits the list form. Spec admits both (oneOf)."
)
SCHEMA_PATCHES: dict[tuple[str, str], str] = {
    ("device", "/properties/tags"): OBJECT_FORM_NOTE.format(flag="tagsAsObject", key="tag key"),
    ("device", "/properties/attributes"): OBJECT_FORM_NOTE.format(
        flag="attributesAsObject", key="attribute name"
    ),
    ("devices", "/properties/items/items/properties/tags"): OBJECT_FORM_NOTE.format(
        flag="tagsAsObject", key="tag key"
    ),
    ("devices", "/properties/items/items/properties/attributes"): OBJECT_FORM_NOTE.format(
        flag="attributesAsObject", key="attribute name"
    ),
    ("deviceRecipe", "/properties/tags"): OBJECT_FORM_NOTE.format(
        flag="tagsAsObject", key="tag key"
    ),
    ("deviceRecipe", "/properties/attributes"): OBJECT_FORM_NOTE.format(
        flag="attributesAsObject", key="attribute name"
    ),
    ("deviceRecipes", "/properties/items/items/properties/tags"): OBJECT_FORM_NOTE.format(
        flag="tagsAsObject", key="tag key"
    ),
    ("deviceRecipes", "/properties/items/items/properties/attributes"): OBJECT_FORM_NOTE.format(
        flag="attributesAsObject", key="attribute name"
    ),
}


def object_form(list_schema: dict[str, Any]) -> dict[str, Any]:
    """The keyed-object rendering of a list of tags or attributes."""
    item = list_schema["items"]
    if "key" in item["properties"]:  # tags: {key: value}
        return {
            "type": "object",
            "patternProperties": {
                item["properties"]["key"]["pattern"]: item["properties"]["value"]
            },
            "additionalProperties": False,
        }
    rest = {k: v for k, v in item["properties"].items() if k != "name"}
    return {
        "type": "object",
        "patternProperties": {
            item["properties"]["name"]["pattern"]: {
                **item,
                "properties": rest,
                "required": [r for r in item.get("required", []) if r != "name"],
            }
        },
        "additionalProperties": False,
    }


def apply_patches(exact: dict[str, Any]) -> None:
    for (name, pointer), _why in SCHEMA_PATCHES.items():
        node = exact[name]
        parts = pointer.strip("/").split("/")
        for part in parts[:-1]:
            node = node[part]
        original = node[parts[-1]]
        node[parts[-1]] = {"oneOf": [original, object_form(original)]}


# Statuses the platform sends but apiInfo.json leaves undocumented on many
# actions. The mock answers them, so the spec must admit them; each added
# response carries `x-kit-addition: true` and the parity test allows exactly these.
ADDED_STATUS_DESCRIPTIONS = {
    "400": "The request is malformed; the body names the offending field.",
    "404": "A resource named in the path does not exist (or is not visible to the caller).",
    "401": "Missing, malformed, expired or revoked credentials.",
    "403": "The credentials are valid but do not grant this action.",
    "413": "The request body is larger than the mock accepts.",
    "429": "Throttled; Retry-After says when to try again.",
}

STATUS_DESCRIPTIONS = {
    "200": "Success.",
    "201": "Created.",
    "202": "Accepted: a background job was queued.",
    "204": "No content.",
    "400": "The request is malformed; the body names the offending field.",
    "401": "Authentication failed.",
    "403": "Not permitted.",
    "404": "The resource (or its parent) does not exist.",
    "422": "The request is well formed but cannot be carried out.",
    "429": "Throttled; Retry-After says when to try again.",
}

# Query parameters the reference types as strings but that only make sense as
# non-negative integers (the platform and the mock answer 400 otherwise).
# Listed in specs/README.md as a tightening.
DIGIT_PARAMETERS = ("page", "perPage", "limit")
DIGIT_PATTERN = "^[0-9]+$"

# Short descriptions, in the kit's words, for parameters that recur.
PARAMETER_DESCRIPTIONS = {
    "applicationId": "Id of the application.",
    "deviceId": "Id of the device.",
    "apiTokenId": "Id of the API token.",
    "applicationKeyId": "Id of the access key.",
    "deviceRecipeId": "Id of the device recipe.",
    "eventId": "Id of the event.",
    "name": "Name of the attribute.",
    "sortField": "Field the collection is ordered by.",
    "sortDirection": "Ascending or descending order.",
    "page": "Zero-based page number.",
    "perPage": "Items per page.",
    "filterField": "Field the glob filter applies to.",
    "filter": "Glob pattern (`*` matches any run of characters) applied to filterField.",
    "query": "Advanced query; bracket form (`query[$and][0][name]=x`) or a JSON string.",
    "tagsAsObject": "Render tags as an object instead of a list.",
    "attributesAsObject": "Render attributes as an object instead of a list.",
    "start": "Start of the time window (ms since the epoch; 0 = now, negative = relative).",
    "end": "End of the time window (ms since the epoch; 0 = now, negative = relative).",
    "duration": "Length of the time window in milliseconds.",
    "limit": "Maximum number of entries to return.",
    "keepAliveInterval": "Seconds between keep-alive comments on the stream.",
    "email": "Email address.",
    "callbackUrl": "URL to notify when the job ends (recorded by the mock, never called).",
}


def camel_words(name: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).split()
    out = []
    for word in words:
        out.append(word.upper() if word.lower() in {"api", "mqtt", "sso", "saml"} else word.lower())
    return " ".join(out)


def summary_for(resource: str, action: str, collection: bool) -> str:
    noun = camel_words(resource)
    if collection and action == "get":
        return f"List {noun}"
    if collection and action == "post":
        return f"Create one of the {noun}"
    if action in ("get", "patch", "delete") and not collection:
        verb = {"get": "Read", "patch": "Update", "delete": "Delete"}[action]
        return f"{verb} the {noun}"
    return f"{noun[0].upper()}{noun[1:]}: {camel_words(action)}"


class Generator:
    def __init__(self, reference: Path) -> None:
        self.reference = reference
        api = reference / "losant-api"
        self.api_info: dict[str, Any] = json.loads((api / "apiInfo.json").read_text())
        self.scopes: dict[str, Any] = json.loads((api / "scopes.json").read_text())
        self.scope: list[dict[str, str]] = [
            entry
            for name in SCOPE_FILES
            for entry in json.loads((reference / name).read_text())
        ]
        self.throttles = yaml.safe_load((reference / "throttles.yaml").read_text())["throttles"]
        self.raw_schemas = {
            path.stem: json.loads(path.read_text())
            for path in sorted((api / "schemas").glob("*.json"))
        }
        self.repairs = sch.Repairs()
        self.exact = {
            name: sch.repair(name, schema, self.repairs)
            for name, schema in self.raw_schemas.items()
        }
        apply_patches(self.exact)
        self.lossy: dict[str, list[str]] = {}
        self.used: set[str] = set()

    # ------------------------------------------------------------ helpers

    def use(self, name: str) -> dict[str, str]:
        if name not in self.exact:
            raise KeyError(f"apiInfo refers to an unknown schema: {name}")
        self.used.add(name)
        return {"$ref": LOWERED + name}

    def schema_ref(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref", "")
        if ref.startswith("#/definitions/"):
            return self.use(ref.removeprefix("#/definitions/"))
        lowered, _ = sch.lower(schema, LOWERED)
        for name in sch.references(schema):
            self.use(name)
        return lowered

    def action(self, resource: str, action: str) -> dict[str, Any]:
        return self.api_info[resource]["actions"][action]

    def throttle_for(self, resource: str, action: str) -> dict[str, Any] | None:
        for entry in self.throttles:
            if entry["resource"] == resource and entry["action"] == action:
                return {k: v for k, v in entry.items() if k not in ("resource", "action")}
        return None

    # ------------------------------------------------------------ parameters

    def parameter(self, param: dict[str, Any]) -> dict[str, Any]:
        name = param["name"]
        out: dict[str, Any] = {"name": name, "in": param["in"]}
        if param["in"] == "path" or param.get("required"):
            out["required"] = True
        if name in PARAMETER_DESCRIPTIONS:
            out["description"] = PARAMETER_DESCRIPTIONS[name]
        if param.get("deprecated"):
            out["deprecated"] = True
        if "schema" in param:
            # Object-valued query parameter. Official clients send it in
            # bracket form; Connexion reassembles that as deepObject. OpenAPI
            # 3.0 cannot describe arrays inside a deepObject, so the declared
            # schema is a free-form object and the exact schema rides along.
            ref = param["schema"]["$ref"].removeprefix("#/definitions/")
            self.use(ref)
            out["style"] = "deepObject"
            out["explode"] = True
            out["schema"] = {"type": "object", "additionalProperties": True}
            out["x-jsonschema"] = {"$ref": EXACT + ref}
            return out
        schema: dict[str, Any] = {"type": param.get("type", "string")}
        for key in ("enum", "pattern", "minLength"):
            if key in param:
                schema[key] = param[key]
        if name in DIGIT_PARAMETERS and schema["type"] == "string" and "pattern" not in schema:
            schema["pattern"] = DIGIT_PATTERN
        if "default" in param:
            schema["default"] = (
                str(param["default"]) if schema["type"] == "string" else param["default"]
            )
        out["schema"] = schema
        if "example" in param and schema["type"] == "string":
            out["example"] = (
                str(param["example"]).lower()
                if isinstance(param["example"], bool)
                else str(param["example"])
            )
        return out

    def request_body(self, params: list[dict[str, Any]]) -> dict[str, Any] | None:
        body = [p for p in params if p["in"] == "body"]
        multipart = [p for p in params if p["in"] == "multipart"]
        if body:
            (param,) = body
            return {
                "required": bool(param.get("required")),
                "content": {"application/json": {"schema": self.schema_ref(param["schema"])}},
            }
        if multipart:
            props: dict[str, Any] = {}
            required = []
            # Object-valued parts (import ``options``) travel as JSON text.
            encoding: dict[str, Any] = {}
            for param in multipart:
                if param.get("type") == "file":
                    props[param["name"]] = {"type": "string", "format": "binary"}
                elif "schema" in param:
                    props[param["name"]] = self.schema_ref(param["schema"])
                    encoding[param["name"]] = {"contentType": "application/json"}
                else:
                    props[param["name"]] = {"type": param.get("type", "string")}
                if param.get("required"):
                    required.append(param["name"])
            schema: dict[str, Any] = {"type": "object", "properties": props}
            if required:
                schema["required"] = required
            media: dict[str, Any] = {"schema": schema}
            if encoding:
                media["encoding"] = encoding
            return {
                "required": bool(required),
                "content": {"multipart/form-data": media},
            }
        return None

    # ------------------------------------------------------------ responses

    def responses(self, resource: str, action: str, act: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for status, resp in sorted(act["responses"].items()):
            entry: dict[str, Any] = {"description": STATUS_DESCRIPTIONS.get(status, "Response.")}
            if act.get("sseStream") and status.startswith("2"):
                events = {
                    event: self.schema_ref(spec["schema"])
                    for event, spec in resp.get("sseEvents", {}).items()
                    if "schema" in spec
                }
                entry["description"] = "A Server-Sent Events stream."
                entry["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
                if events:
                    entry["x-sse-events"] = events
            elif "schema" in resp:
                schema = resp["schema"]
                if (resource, action) in ACTION_FIXES and status == "200":
                    schema = {"$ref": "#/definitions/apiTokens"}
                entry["content"] = {"application/json": {"schema": self.schema_ref(schema)}}
            out[status] = entry
        return out

    def add_kit_statuses(
        self,
        responses: dict[str, Any],
        *,
        secured: bool,
        has_input: bool,
        has_path_ids: bool,
        has_body: bool,
        throttled: bool,
    ) -> None:
        wanted = []
        if has_input:
            wanted.append("400")
        if has_path_ids:
            wanted.append("404")
        if secured:
            wanted += ["401", "403"]
        if has_body:
            wanted.append("413")
        if throttled:
            wanted.append("429")
        for status in wanted:
            if status not in responses:
                responses[status] = {
                    "description": ADDED_STATUS_DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": self.use("error")}},
                    "x-kit-addition": True,
                }

    # ------------------------------------------------------------ operations

    def operation(self, entry: dict[str, str]) -> dict[str, Any]:
        resource, action = entry["resource"], entry["action"]
        res = self.api_info[resource]
        act = res["actions"][action]
        params = [*res.get("params", []), *act.get("params", [])]
        collection = resource.endswith("s") and resource not in ("auth", "data")
        op: dict[str, Any] = {
            "operationId": f"{resource}.{action}",
            "summary": summary_for(resource, action, collection),
            "tags": [resource],
        }
        plain = [p for p in params if p["in"] in ("path", "query", "header")]
        op["parameters"] = [self.parameter(p) for p in plain] + [
            {"$ref": f"#/components/parameters/{name}"} for name in GLOBAL_PARAMETERS
        ]
        body = self.request_body(params)
        if body:
            op["requestBody"] = body
        scopes = sorted(self.scopes.get(resource, {}).get(action, []))
        op["security"] = [{"bearer": []}] if scopes else []
        op["x-scopes"] = scopes
        throttle = self.throttle_for(resource, action)
        if throttle:
            op["x-throttle"] = throttle
            op["description"] = describe_throttle(throttle)
        if act.get("sseStream"):
            op["x-sse"] = True
        op["responses"] = self.responses(resource, action, act)
        self.add_kit_statuses(
            op["responses"],
            secured=bool(scopes),
            has_input=bool(plain) or bool(body),
            has_path_ids=any(p["in"] == "path" for p in plain),
            has_body=bool(body),
            throttled=bool(throttle and throttle["kind"] in ("window", "concurrent", "size")),
        )
        return op

    # ------------------------------------------------------------ links

    def add_links(self, paths: dict[str, Any]) -> None:
        """Link each create action (and auth) to the actions that use its result."""
        ops = {
            op["operationId"]: (path, method, op)
            for path, item in paths.items()
            for method, op in item.items()
        }
        for path, method, op in ops.values():
            if method != "post" or "201" not in op["responses"]:
                continue
            response_schema = self.exact.get(
                op["responses"]["201"]
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
                .get("$ref", "")
                .removeprefix(LOWERED),
                {},
            )
            props = response_schema.get("properties", {})
            links = {}
            for target_id, (target_path, _, _target) in ops.items():
                match = re.fullmatch(re.escape(path) + r"/\{(\w+)\}(/.*)?", target_path)
                if not match:
                    continue
                new_param = match.group(1)
                field = "name" if new_param == "name" else "id"
                known = {new_param, *re.findall(r"\{(\w+)\}", path)}
                if field not in props or not set(re.findall(r"\{(\w+)\}", target_path)) <= known:
                    # A deeper action needs ids this request neither had nor created.
                    continue
                links[target_id] = {
                    "operationId": target_id,
                    "parameters": {
                        p: ("$response.body#/" + field) if p == new_param else f"$request.path.{p}"
                        for p in re.findall(r"\{(\w+)\}", target_path)
                    },
                }
            if links:
                op["responses"]["201"]["links"] = links
        # Authenticating as a device yields the ids its token is good for.
        device_auth = ops["auth.authenticateDevice"][2]["responses"]["200"]
        device_auth["links"] = {
            target_id: {
                "operationId": target_id,
                "parameters": {
                    p: f"$response.body#/{p}" for p in re.findall(r"\{(\w+)\}", target_path)
                },
            }
            for target_id, (target_path, _, target) in ops.items()
            if "all.Device" in target["x-scopes"]
            and set(re.findall(r"\{(\w+)\}", target_path)) <= {"applicationId", "deviceId"}
        }
        user_auth = ops["auth.authenticateUser"][2]["responses"]["200"]
        user_auth["links"] = {
            target_id: {"operationId": target_id}
            for target_id in ("me.get", "applications.get", "userApiTokens.get")
        }

    # ------------------------------------------------------------ document

    def build(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        for entry in self.scope:
            op = self.operation(entry)
            paths.setdefault(entry["path"], {})[entry["method"].lower()] = op
        self.add_links(paths)

        closure = set()
        pending = list(self.used)
        while pending:
            name = pending.pop()
            if name in closure:
                continue
            closure.add(name)
            pending.extend(sch.references(self.exact[name]))

        lowered: dict[str, Any] = {}
        exact: dict[str, Any] = {}
        for name in sorted(closure):
            low, losses = sch.lower(self.exact[name], LOWERED)
            if losses:
                low["x-lossy"] = losses
                self.lossy[name] = losses
            lowered[name] = low
            exact[name] = sch.rewrite_refs(self.exact[name], EXACT)
        self.in_spec = closure

        return {
            "openapi": OPENAPI_VERSION,
            "info": {
                "title": "Losant platform API: device, auth, application and experience actions",
                "version": "1.30",
                "description": (
                    "Generated by `python -m losant_kit.specs.generate` from the platform's "
                    "reference description. Exact draft-07 schemas are under "
                    "`components.x-jsonschema`; see specs/README.md."
                ),
            },
            "servers": [{"url": "/"}],
            "tags": [{"name": name} for name in sorted({e["resource"] for e in self.scope})],
            "paths": dict(sorted(paths.items())),
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                },
                "parameters": GLOBAL_PARAMETERS,
                "schemas": lowered,
                "x-jsonschema": exact,
            },
        }

    def deviations_markdown(self) -> str:
        lines = [DEVIATIONS_START, "", "### Corrections to apiInfo.json", ""]
        for (resource, action), what in ACTION_FIXES.items():
            lines.append(f"- `{resource}.{action}`: {what}")
        lines += ["", "### Tightened parameters", ""]
        lines.append(
            f"- Query parameters {', '.join(f'`{n}`' for n in DIGIT_PARAMETERS)} are typed as "
            f"strings by the reference; the spec adds `pattern: {DIGIT_PATTERN}` because only "
            "non-negative integers are meaningful (anything else is a 400)."
        )
        lines += ["", "### Statuses the kit adds (`x-kit-addition: true`)", ""]
        for status, what in ADDED_STATUS_DESCRIPTIONS.items():
            lines.append(f"- `{status}`: {what}")
        lines += ["", "### Widened schemas (documented behaviour the schema omits)", ""]
        for (name, pointer), why in SCHEMA_PATCHES.items():
            lines.append(f"- `{name}` `{pointer}`: {why}")
        lines += ["", "### Repaired schemas (published form is malformed)", ""]
        for name, notes in sorted(self.repairs.notes.items()):
            outside = f"outside the {len(self.scope)} actions"
            scope = "in the spec" if name in self.in_spec else outside
            lines.append(f"- `{name}` ({scope}):")
            for what, places in notes.items():
                lines.append(f"  - {what}: " + ", ".join(f"`{p}`" for p in places))
        lines += ["", "### Lowered schemas that are a superset of the exact one (`x-lossy`)", ""]
        for name, losses in sorted(self.lossy.items()):
            lines.append(f"- `{name}`: {len(losses)} place(s), e.g. {losses[0]}")
        lines += ["", DEVIATIONS_END]
        return "\n".join(lines)


def describe_throttle(rule: dict[str, Any]) -> str:
    kind = rule["kind"]
    if kind == "window":
        return (
            f"Throttled: at most {rule['limit']} calls per {rule['window_s']} s per {rule['per']}."
        )
    if kind == "concurrent":
        return f"Throttled: at most {rule['limit']} running job(s) per {rule['per']}."
    if kind == "size":
        return f"Limited: results over {rule['max_bytes'] // (1024 * 1024)} MB are refused."
    return f"Throttled: once per {rule['window_s']} s per {rule['per']}."


def render(reference: Path, readme: str) -> dict[str, str]:
    """The generated files' new text, keyed by file name."""
    gen = Generator(reference)
    spec = gen.build()
    # Documented constraints and x-rules go into both documents; the 3.1 twin
    # is derived from the finished 3.0.3 one (specs/openapi31.py).
    constraints.apply(spec)
    rules.apply(spec)
    text = json.dumps(spec, indent=1, ensure_ascii=False) + "\n"
    text31 = json.dumps(openapi31.twin(spec), indent=1, ensure_ascii=False) + "\n"
    if DEVIATIONS_START in readme and DEVIATIONS_END in readme:
        head, rest = readme.split(DEVIATIONS_START, 1)
        _, tail = rest.split(DEVIATIONS_END, 1)
        readme = head + gen.deviations_markdown() + tail
    readme = rules.render_readme(readme)
    return {SPEC_FILE: text, openapi31.SPEC_31_FILE: text31, "README.md": readme}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference", type=Path, required=True, help="the shared reference directory"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent, help="where the specs go"
    )
    parser.add_argument("--check", action="store_true", help="fail if the committed files differ")
    args = parser.parse_args(argv)
    readme_path = args.out / "README.md"
    readme = readme_path.read_text() if readme_path.exists() else ""
    outputs = render(args.reference, readme)
    stale = (
        [name for name, text in outputs.items() if (args.out / name).read_text() != text]
        if (args.check)
        else []
    )
    if args.check:
        for name in stale:
            print(
                f"{name} is out of date; run python -m losant_kit.specs.generate",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for name, text in outputs.items():
        (args.out / name).write_text(text)
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
