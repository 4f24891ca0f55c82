"""Writing what was read as a world file (fixtures/world.schema.json), streamed.

The API's records become world records field by field (only the fields the
world format holds; ids kept). Secrets the API never returns - the owner's
password, access key secrets, API token strings - are generated here and
listed in the file's ``clone.generatedSecrets``. The caller's token is never
given to the writer.

The header (users, the application, keys, tokens, recipes, events) is
written first; devices follow one at a time with their history, so memory
holds one device's history at once. ``.json`` files are plain JSON; ``.yaml``
files are block YAML with each history report on one line in flow style
(JSON syntax where that reads back identically in YAML, PyYAML's own
flow style otherwise), which keeps large files fast to write and to read.
"""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path
from typing import IO, Any

from losant_kit.mockserver.clone.source import Application

Record = dict[str, Any]

DEVICE_FIELDS = ("id", "name", "description", "deviceClass", "gatewayId", "parentId", "tags",
                 "attributes", "systemInterval", "keepDuplicates", "creationDate")
RECIPE_FIELDS = ("id", "name", "deviceName", "description", "deviceDescription", "deviceClass",
                 "gatewayId", "parentId", "tags", "attributes", "systemInterval",
                 "keepDuplicates", "creationDate")
ATTRIBUTE_FIELDS = ("name", "dataType", "contentType", "description", "attributeTags", "system")
KEY_FIELDS = ("id", "key", "name", "description", "status", "filterType", "deviceIds",
              "deviceTags", "pubTopics", "subTopics", "creationDate")
TOKEN_FIELDS = ("id", "name", "description", "scope", "status", "expirationDate", "creationDate")
EVENT_FIELDS = ("id", "level", "state", "subject", "message", "data", "deviceId", "deviceName",
                "eventTags", "disableTagChangeTracking", "sourceType", "sourceId", "sourceName",
                "updates", "creationDate", "lastUpdated")
DEFAULT_OWNER_EMAIL = "dev@example.com"
_MARKER = "__losant_mock_clone_devices__"


def _pick(record: Record, fields: tuple[str, ...]) -> Record:
    return {f: record[f] for f in fields if record.get(f) is not None}


def attributes(record: Record) -> list[Record]:
    return [_pick(a, ATTRIBUTE_FIELDS) for a in record.get("attributes") or []]


class WorldBuilder:
    """Turns the records read into world records; collects the secrets it had to invent."""

    def __init__(self, app: Application, *, source: str) -> None:
        self.app = app
        self.source = source
        self.device_ids = {d["id"] for d in app.devices}
        self.generated: list[Record] = []
        self.dropped_links: list[str] = []

    def _secret(self, what: str, value: str) -> str:
        self.generated.append({"for": what, "value": value})
        return value

    # ------------------------------------------------------------ header

    def owner(self) -> Record:
        me = self.app.me or {}
        user: Record = {"email": me.get("email") or DEFAULT_OWNER_EMAIL}
        if me.get("id"):
            user = {"id": me["id"], **user}
        for field in ("firstName", "lastName", "companyName"):
            if me.get(field):
                user[field] = me[field]
        user["password"] = self._secret(f"password of user {user['email']}",
                                        secrets.token_urlsafe(18))
        return user

    def header(self, clone_info: Record) -> Record:
        """The whole document except the devices (a marker stands in for them)."""
        user = self.owner()
        record = self.app.record
        application: Record = {
            "id": record["id"],
            "name": record["name"],
            "owner": user["email"],
        }
        if record.get("description"):
            application["description"] = record["description"]
        if record.get("globals"):
            application["globals"] = [
                _pick(g, ("key", "json", "description", "cloudOnly")) for g in record["globals"]
            ]
        if record.get("creationDate"):
            application["creationDate"] = record["creationDate"]
        application["keys"] = [self.key(k) for k in self.app.keys]
        application["tokens"] = [self.token(t) for t in self.app.tokens]
        application["recipes"] = [self.recipe(r) for r in self.app.recipes]
        application["events"] = [_pick(e, EVENT_FIELDS) for e in self.app.events]
        application["devices"] = _MARKER
        for device in self.app.devices:  # devices are written later: list their drops now
            self._links(dict(device), f"device {device.get('name')}")
        # Listed after everything generated above, so the file says all of it.
        info = {**clone_info, "generatedSecrets": self.generated}
        if self.dropped_links:
            info["droppedLinks"] = self.dropped_links
        if self.app.notes:
            info["notes"] = self.app.notes
        return {"clone": info, "users": [user], "applications": [application]}

    def key(self, record: Record) -> Record:
        key = _pick(record, KEY_FIELDS)
        kept = [i for i in key.get("deviceIds", []) if i in self.device_ids]
        if len(kept) != len(key.get("deviceIds", [])):
            self.dropped_links.append(f"access key {key.get('key')}: devices not cloned")
        key["deviceIds"] = kept
        for field in ("deviceIds", "deviceTags", "pubTopics", "subTopics"):
            if not key.get(field):
                key.pop(field, None)
        if "key" not in key:
            key["key"] = str(uuid.uuid4())
        label = key.get("name") or key["key"]
        key["secret"] = self._secret(f"secret of access key {label} ({key['key']})",
                                     secrets.token_hex(32))
        return key

    def token(self, record: Record) -> Record:
        token = _pick(record, TOKEN_FIELDS)
        token.setdefault("name", "API token")
        token["token"] = self._secret(f"bearer token of API token {token['name']}",
                                      "clone-" + secrets.token_urlsafe(32))
        return token

    def recipe(self, record: Record) -> Record:
        recipe = _pick(record, RECIPE_FIELDS)
        recipe["attributes"] = attributes(record)
        self._links(recipe, f"recipe {recipe.get('name')}")
        return recipe

    def _links(self, spec: Record, label: str | None) -> None:
        """Drop a gateway or parent that is not in the clone (--max-devices); list it
        under ``label`` (None: already listed)."""
        for field in ("gatewayId", "parentId"):
            target = spec.get(field)
            if target and target not in self.device_ids:
                del spec[field]
                if label is not None:
                    self.dropped_links.append(f"{label}: {field} {target} not cloned")
        if spec.get("deviceClass") != "peripheral":
            spec.pop("gatewayId", None)

    # ------------------------------------------------------------ devices

    def device(self, record: Record, history: list[Record]) -> Record:
        device = _pick(record, DEVICE_FIELDS)
        if "parentId" in record and record["parentId"] is None:
            device["parentId"] = None
        device["tags"] = [_pick(t, ("key", "value")) for t in record.get("tags") or []]
        device["attributes"] = attributes(record)
        self._links(device, None)
        info = record.get("connectionInfo")
        if isinstance(info, dict) and info.get("connected") is not None:
            device["connectionInfo"] = _pick(info, ("connected", "time"))
        if history:
            device["history"] = history
        return device


class WorldWriter:
    """Streams a world document to ``path``: the header, then one device at a time."""

    def __init__(self, path: Path, header: Record, *, comment: str = "") -> None:
        self.path = path
        self.yaml = path.suffix.lower() in (".yaml", ".yml")
        self._tmp = path.with_name(path.name + ".partial")
        self._file: IO[str] = self._tmp.open("w", encoding="utf-8")
        self._count = 0
        if self.yaml:
            import yaml

            self._dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            text = yaml.dump(header, Dumper=self._dumper, sort_keys=False, allow_unicode=True,
                             width=100)
            before, _, self._after = text.partition(f"devices: {_MARKER}\n")
            self._indent = " " * (len(before) - len(before.rstrip(" ")))
            if comment:
                self._file.write("".join(f"# {line}\n" for line in comment.splitlines()))
            self._file.write(before + "devices:\n")
        else:
            text = json.dumps(header, indent=2, ensure_ascii=False)
            before, _, self._after = text.partition(json.dumps(_MARKER))
            self._file.write(before + "[")

    def write_device(self, device: Record) -> None:
        history = device.pop("history", None)
        if self.yaml:
            self._write_yaml_device(device, history)
        else:
            if history:
                device["history"] = history
            self._file.write(("," if self._count else "") + "\n" +
                             json.dumps(device, ensure_ascii=False, separators=(",", ":")))
        self._count += 1

    def _write_yaml_device(self, device: Record, history: list[Record] | None) -> None:
        import yaml

        text = yaml.dump([device], Dumper=self._dumper, sort_keys=False, allow_unicode=True,
                         width=100)
        pad = self._indent
        out = [pad + line for line in text.splitlines()]
        if history:
            out.append(pad + "  history:")
            out.extend(f"{pad}  - {_flow_report(report, self._dumper)}" for report in history)
        self._file.write("\n".join(out) + "\n")

    def close(self) -> int:
        """Finish the file (written to a temporary name, renamed when complete)."""
        if self.yaml:
            if not self._count:
                # "devices:" with nothing under it would read as null.
                self._file.write(self._indent + "  []\n")
            self._file.write(self._after)
        else:
            self._file.write(("\n" if self._count else "") + "]" + self._after + "\n")
        self._file.close()
        self._tmp.replace(self.path)
        return self._count

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


def check_loadable(header: Record, devices: list[Record]) -> list[str]:
    """The problems the world loader would report for the file (history aside), if any."""
    from losant_kit.fixtures import WorldFileError, validate_world

    application = {**header["applications"][0], "devices": devices}
    try:
        validate_world({**header, "applications": [application]}, source="the clone")
    except WorldFileError as error:
        return [f"{problem.path}: {problem.message}" for problem in error.problems]
    return []


def _flow_report(report: Record, dumper: Any) -> str:
    """One state report as a YAML flow mapping that reads back exactly."""
    parts = []
    for name, value in report["data"].items():
        text = _json_scalar(value)
        if text is None:
            return _yaml_flow(report, dumper)
        parts.append(f'"{name}": {text}')
    data = ", ".join(parts)
    return f'{{"time": "{report["time"]}", "data": {{{data}}}}}'


def _json_scalar(value: Any) -> str | None:
    """JSON text that YAML 1.1 reads as the same value, or None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        # YAML 1.1 floats need a dot: 1e-07 would read back as a string.
        if "e" in text and "." not in text:
            mantissa, _, exponent = text.partition("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        # Printable ASCII only: JSON escapes mean the same in YAML double quotes.
        return text if all(" " <= ch <= "~" for ch in text) else None
    return None


def _yaml_flow(report: Record, dumper: Any) -> str:
    import yaml

    return yaml.dump(report, Dumper=dumper, default_flow_style=True, width=1_000_000_000,
                     allow_unicode=True).rstrip("\n")
