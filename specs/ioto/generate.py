"""Build the Ioto cloud API spec (OpenAPI 3.0.3) from the shared Ioto reference.

    python -m losant_kit.specs.ioto.generate --reference ../shared/reference/ioto [--check]

The reference (``api.yaml``) lists every controller, endpoint, request field,
role and model. This generator turns the REST (``transport: http``) endpoints of
the controllers in ``CONTROLLERS`` into paths, in both forms the platform uses:
``/tok/<controller>/<action>`` for CloudAPI (and device API) tokens and the bare
``/<controller>/<action>`` for login access tokens. What the reference leaves
open is decided here once, in the constants below, and listed in the README's
Fidelity notes; the mock and the suites read those decisions back from the spec
(``x-role``, ``x-shape``, ``x-model``, ``x-envelope``), never repeat them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

SPEC_FILE = "openapi.json"
CONTROLLERS = ("Account", "Action", "Alert", "Dashboard", "Device", "Generic", "Metric",
               "Provision", "User", "Test")
# Models Generic `_type` addresses: the device-synced database models.
GENERIC_TYPES = ("Device", "Store", "Log", "Command")
# Calls the device agent makes itself: it reads their fields at the top level of
# the body, so the mock answers them without the {data} envelope.
AGENT_CALLS = frozenset({"device.provision", "device.getCreds", "provision.update"})
# Endpoints only a device (or the cloud's own token) calls: no login-token form.
TOK_ONLY_ROLES = frozenset({"device", "upgrade"})
# Public endpoints that still identify the caller (first login needs a login token).
LOGIN_FORM_ONLY = frozenset({"user.login"})
PAGING_MAX = 1000
PAGING_DEFAULT = 100
TYPES = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    "array": {"type": "array", "items": {}},
    "date": {"type": "string", "format": "date-time"},
    "any": {},
    "number|string": {"oneOf": [{"type": "number"}, {"type": "string"}]},
}
# Response models by the name the reference gives them; `models.<Name>` holds their fields.
RECORD_MODELS = ("Account", "User", "Alert", "Dashboard", "DashboardRange", "DashboardWidget",
                 "Action", "ProvisionResult", "AwsCreds", "UpdateResult")
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_STATUSES = {"400": "The request is malformed or names something that does not exist.",
                  "403": "The token is missing, unknown, expired, or lacks the role.",
                  "500": "The service failed."}


def schema_of(field: Any) -> dict[str, Any]:
    """A reference field description -> an OpenAPI 3.0 schema."""
    if isinstance(field, str):
        if field in TYPES:
            return dict(TYPES[field])
        return {"$ref": f"#/components/schemas/{field}"}
    kind = field.get("type", "any")
    if kind == "array" and "items" in field:
        items = field["items"]
        item_schema = (schema_of(items) if isinstance(items, str)
                       else object_schema(items, open_=False))
        schema: dict[str, Any] = {"type": "array", "items": item_schema}
    elif kind == "object" and "schema" in field:
        schema = {"$ref": f"#/components/schemas/{field['schema']}"}
    else:
        schema = dict(TYPES.get(kind, {}))
    if "values" in field:
        schema["enum"] = list(field["values"])
    if "role" in field:
        schema["x-role"] = field["role"]
    return schema


def object_schema(fields: dict[str, Any], *, open_: bool,
                  required: list[str] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {}
    needed = list(required or [])
    extra = open_
    for name, field in fields.items():
        if name == "*":
            extra = True
            continue
        props[name] = schema_of(field)
        if isinstance(field, dict) and field.get("required") is True:
            needed.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if needed:
        schema["required"] = sorted(set(needed))
    schema["additionalProperties"] = extra
    return schema


class Generator:
    def __init__(self, reference: Path) -> None:
        self.api = yaml.safe_load((reference / "api.yaml").read_text())
        self.schemas: dict[str, Any] = {}
        self.paths: dict[str, Any] = {}
        # Paths a device API token may call (besides its role's own endpoints).
        self.device_paths = {path.removeprefix("/tok") for path in
                             self.api["tokens"]["device_api_token"]["used_for"]}

    # ------------------------------------------------------------ models

    def models(self) -> None:
        models = self.api["models"]
        for name in RECORD_MODELS:
            self.schemas[name] = object_schema(models[name]["fields"], open_=False)
        device = models["Device"]
        self.schemas["Device"] = object_schema(device["api_record"]["fields"], open_=False,
                                               required=["id"])
        self.schemas["Account"]["required"] = ["id"]
        self.schemas["User"]["required"] = ["id"]
        # Generic items: the schema models, hidden fields left out, open to the
        # attributes a caller adds (the docs let Generic carry any attribute).
        for name in GENERIC_TYPES:
            fields = device["db_item"]["fields"] if name == "Device" else models[name]["fields"]
            visible = {k: v for k, v in fields.items() if not v.get("hidden")}
            item = object_schema(visible, open_=True)
            for key, field in visible.items():
                if field.get("readonly") or field.get("generate"):
                    item["properties"][key]["readOnly"] = True
            item["properties"]["_type"] = {"type": "string", "enum": [name]}
            item["required"] = sorted({"_type", *(
                k for k, v in visible.items() if v.get("required") or v.get("generate"))})
            self.schemas[f"{name}Item"] = item
        # Store values: number or string in the docs, boolean from the agent, object
        # in the schema file; any JSON value is taken (see Fidelity notes).
        self.schemas["StoreItem"]["properties"]["value"] = {}
        self.schemas["GenericItem"] = {"oneOf": [
            {"$ref": f"#/components/schemas/{n}Item"} for n in GENERIC_TYPES]}
        metric = models["Metric"]["api_result"]["fields"]
        result = object_schema(metric, open_=True)
        result["properties"]["points"] = {"type": "array", "items": object_schema(
            metric["points"]["items"], open_=False)}
        self.schemas["MetricResult"] = result
        fetch = self.api["controllers"]["Metric"]["endpoints"]["fetch"]
        self.schemas["MetricRequest"] = object_schema(fetch["item_fields"], open_=False)
        self.schemas["MetricRequest"]["properties"]["statistic"]["default"] = "avg"
        self.schemas["MetricRequest"]["properties"]["period"]["default"] = 300
        self.schemas["Error"] = {"type": "string", "description": "A plain-text error message."}

    def model_ref(self, model: str) -> dict[str, Any]:
        name = model.removesuffix(".api_record")
        return {"$ref": f"#/components/schemas/{name}"}

    # ------------------------------------------------------------ paths

    def payload(self, ident: str, endpoint: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
        """(payload schema, shape, model name) of an endpoint's success."""
        response = endpoint["response"]
        shape = response["shape"]
        model = response.get("model", "")
        if ident.startswith("generic."):
            item = {"$ref": "#/components/schemas/GenericItem"}
            if ident == "generic.find":
                return item, "paged", "GenericItem"
            if ident == "generic.remove":
                return {"type": "boolean"}, "none", ""
            return item, "record", "GenericItem"
        if ident == "metric.fetch":
            return {"$ref": "#/components/schemas/MetricResult"}, "paged", "MetricResult"
        if ident == "dashboard.find":
            # Titled a record by the docs; a find of every dashboard is a list here.
            return self.model_ref("Dashboard"), "paged", "Dashboard"
        if model:
            return self.model_ref(model), shape, model.removesuffix(".api_record")
        if "fields" in response:
            # Manager is a Builder-side model outside this API's scope: an object here.
            fields = {k: ("object" if v == "Manager" else v)
                      for k, v in response["fields"].items()}
            return object_schema(fields, open_=False), "record", ""
        if shape == "string":
            return {"type": "string"}, "string", ""
        if shape == "object":
            return {"type": "object"}, "object", ""
        # Undocumented: removals and closes answer true (see Fidelity notes).
        return {"type": "boolean"}, "none", ""

    def request_schema(self, ident: str, endpoint: dict[str, Any], tok: bool) -> dict[str, Any]:
        fields = dict(endpoint.get("request") or {})
        open_ = "*" in fields
        if ident == "metric.fetch":
            fields["items"] = {"type": "array", "required": True, "items": "MetricRequest"}
        schema = object_schema(fields, open_=open_)
        if ident.startswith("generic."):
            schema["properties"]["_type"]["enum"] = list(GENERIC_TYPES)
        if "accountId" not in schema["properties"] and endpoint["role"] not in TOK_ONLY_ROLES:
            # Callers with the owner role (CloudAPI tokens) pick the account to act on.
            schema["properties"]["accountId"] = {"type": "string", "x-role": "owner"}
        return schema

    def parameters(self, ident: str, endpoint: dict[str, Any], shape: str) -> list[dict]:
        query = endpoint.get("query")
        params: list[dict[str, Any]] = []
        if query == "standard_paging" or shape == "paged":
            params += [
                {"name": "limit", "in": "query", "required": False,
                 "description": "Most items in one page.",
                 "schema": {"type": "integer", "minimum": 1, "maximum": PAGING_MAX,
                            "default": PAGING_DEFAULT}},
                {"name": "next", "in": "query", "required": False,
                 "description": "The `next` cursor of a previous page: the page after it.",
                 "schema": {"type": "string"}},
                {"name": "prev", "in": "query", "required": False,
                 "description": "The `prev` cursor of a previous page: the page before it.",
                 "schema": {"type": "string"}},
            ]
        if query == "standard_paging" or isinstance(query, dict) or shape == "paged":
            params.append({"name": "index", "in": "query", "required": False,
                           "description": "Database index to read (owner role only).",
                           "schema": {"type": "string", "enum": ["primary", "gs1"]},
                           "x-role": "owner"})
        if ident == "generic.update":
            params.append({"name": "exists", "in": "query", "required": False,
                           "allowEmptyValue": True,
                           "description": "Present: the item must already exist (no upsert).",
                           "schema": {"type": "string"}})
        return params

    def operation(self, controller: str, action: str, endpoint: dict[str, Any],
                  tok: bool) -> dict[str, Any]:
        ident = f"{controller.lower()}.{action}"
        payload, shape, model = self.payload(ident, endpoint)
        enveloped = ident not in AGENT_CALLS
        if not enveloped:
            body = payload
        elif shape == "paged":
            body = {"type": "object", "required": ["data", "paged"], "additionalProperties": False,
                    "properties": {"data": {"type": "array", "items": payload},
                                   "next": {"type": "string"}, "prev": {"type": "string"},
                                   "paged": {"type": "boolean"}}}
        else:
            body = {"type": "object", "required": ["data"], "additionalProperties": False,
                    "properties": {"data": payload}}
        role = endpoint["role"]
        form = "a CloudAPI or device API token under /tok" if tok else \
            "a login access token (with Origin)"
        op: dict[str, Any] = {
            "operationId": f"tok.{ident}" if tok else ident,
            "tags": [controller],
            "summary": f"{controller} {action} ({'token' if tok else 'login'} form)",
            "description": (f"POST {endpoint['path']} called with {form}. Role: {role}. "
                            f"Answers {'a page of' if shape == 'paged' else 'one'} "
                            f"{model or shape} "
                            f"{'under data' if enveloped else 'at the top level'}."),
            "x-role": role,
            "x-shape": shape,
            "x-envelope": enveloped,
        }
        if model:
            op["x-model"] = model
        if tok and endpoint["path"] in self.device_paths:
            op["x-device-token"] = True
        params = self.parameters(ident, endpoint, shape)
        if params:
            op["parameters"] = params
        if ident != "test.ping":
            request = self.request_schema(ident, endpoint, tok)
            op["requestBody"] = {
                "required": bool(request.get("required")),
                "content": {"application/json": {"schema": request}}}
        if role != "public" or ident in LOGIN_FORM_ONLY:
            op["security"] = [{"tokToken": []}] if tok else [{"loginToken": []}]
        else:
            op["security"] = []
        op["responses"] = {
            "200": {"description": "Success.", "content": {"application/json": {"schema": body}}},
            **{status: {"description": text, "content": {"text/plain": {"schema": ERROR_REF}}}
               for status, text in ERROR_STATUSES.items()},
        }
        return op

    def build(self) -> dict[str, Any]:
        self.models()
        for controller in CONTROLLERS:
            for action, endpoint in self.api["controllers"][controller]["endpoints"].items():
                if endpoint.get("transport") != "http":
                    continue
                ident = f"{controller.lower()}.{action}"
                path = endpoint["path"]
                public = endpoint["role"] == "public" and ident not in LOGIN_FORM_ONLY
                if endpoint["role"] not in TOK_ONLY_ROLES:
                    self.paths[path] = {"post": self.operation(controller, action, endpoint,
                                                               tok=False)}
                if not public and ident not in LOGIN_FORM_ONLY:
                    self.paths["/tok" + path] = {"post": self.operation(
                        controller, action, endpoint, tok=True)}
        meta = self.api["meta"]
        return {
            "openapi": "3.0.3",
            "info": {
                "title": "EmbedThis Ioto device-cloud API (losant-mock-kit)",
                "version": meta["commit_short"],
                "description": (
                    "Generated by specs/ioto/generate.py from the shared Ioto reference "
                    f"(embedthis/ioto at {meta['commit_short']}). Every call is a POST. "
                    "Successes are JSON under `data` (lists add `next`, `prev`, `paged`); "
                    "failures are text/plain with 400, 403 or 500."),
            },
            "servers": [{"url": "/"}],
            "paths": dict(sorted(self.paths.items())),
            "components": {
                "securitySchemes": {
                    "tokToken": {"type": "apiKey", "in": "header", "name": "Authorization",
                                 "description": "A CloudAPI token (or a device API token), bare "
                                                "or after `bearer `, on the /tok paths."},
                    "loginToken": {"type": "apiKey", "in": "header", "name": "Authorization",
                                   "description": "A login access token, bare or after "
                                                  "`bearer `, plus an Origin header naming "
                                                  "the device app."},
                },
                "schemas": dict(sorted(self.schemas.items())),
            },
        }


def render(reference: Path) -> dict[str, str]:
    spec = Generator(reference).build()
    return {SPEC_FILE: json.dumps(spec, indent=1, ensure_ascii=False) + "\n"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True,
                        help="the shared Ioto reference directory (holds api.yaml)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--check", action="store_true", help="fail if the committed files differ")
    args = parser.parse_args(argv)
    outputs = render(args.reference)
    if args.check:
        stale = [name for name, text in outputs.items()
                 if not (args.out / name).exists() or (args.out / name).read_text() != text]
        for name in stale:
            print(f"{name} is out of date; run python -m losant_kit.specs.ioto.generate",
                  file=sys.stderr)
        return 1 if stale else 0
    for name, text in outputs.items():
        (args.out / name).write_text(text)
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
