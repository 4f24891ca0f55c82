"""The Ioto mock's world: a world file (``--fixtures``), or one Faker builds from the seed.

A world document holds (every list optional):

    cloud:          {id, name, region}
    products:       [{id, name}]
    cloudApiTokens: [{token, description}]
    accounts:       [{id, name, email, created}]
    users:          [{id, accountId, email, first, last, role, password}]
    devices:        [{id, product, productId, accountId (null: unclaimed), name, model,
                      description, test, version, created, apiToken}]
    items:          [{_type: Store|Log|Command, accountId, deviceId, ...}]
    metrics:        [{deviceId, namespace, metric, dimensions, points: [{timestamp|ago, value}]}]
    alerts, dashboards, actions, updates

The same seed gives the same document: names, ids and tokens come from Faker and
a random source both seeded with it; timestamps are fixed, and metric points
are placed ``ago`` seconds before start-up so a fresh mock always has recent data.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from losant_kit.fixtures.errors import Problem, WorldFileError
from losant_kit.mockserver.ioto.ids import Ids

if TYPE_CHECKING:
    from losant_kit.mockserver.settings import Settings

FAKER_LOCALE = "en_US"
DEFAULT_LOGINS = (("dev@example.com", "ioto-mock"), ("other@example.com", "ioto-mock"))
BASE_DATE = "2026-01-01T00:00:00.000Z"
CLAIMED_PER_ACCOUNT = 4
UNCLAIMED = 3
ACTION_TYPES = (("DeviceCommand", "device"), ("HighTemperature", "alert"),
                ("NotifyOwner", "email"))


def initial_world(settings: Settings) -> dict[str, Any]:
    if settings.empty:
        return {}
    if settings.fixtures is not None:
        return read_world(settings.fixtures)
    return generate(settings.seed, settings.users or DEFAULT_LOGINS)


def read_world(path: Path) -> dict[str, Any]:
    text = Path(path).read_text()
    try:
        world = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise WorldFileError(str(path), [Problem("$", f"not readable ({exc})")]) from None
    if not isinstance(world, dict):
        raise WorldFileError(str(path), [Problem("$", "a world file holds a mapping")])
    return world


def generate(seed: int, logins: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    from faker import Faker  # slow to import; only building a world needs it

    fake = Faker(FAKER_LOCALE)
    fake.seed_instance(seed)
    ids = Ids(seed)
    rnd = random.Random(seed)
    base_ms = 1_767_225_600_000  # BASE_DATE
    cloud = {"id": ids.claim_id(), "name": f"{fake.word()}-cloud", "region": "us-east-1"}
    product = {"id": "P" + ids.claim_id(), "name": fake.word().capitalize() + " Sensor"}
    world: dict[str, Any] = {
        "cloud": cloud, "products": [product],
        "cloudApiTokens": [{"token": ids.token(), "description": "CloudAPI token of the mock"}],
        "accounts": [], "users": [], "devices": [], "items": [], "metrics": [],
        "alerts": [], "dashboards": [],
        "actions": [{"id": ids.ulid(base_ms), "name": name, "type": type_, "enable": True,
                     "description": fake.sentence(nb_words=6), "context": {}}
                    for name, type_ in ACTION_TYPES],
        "updates": [{"id": ids.ulid(base_ms), "product": product["id"], "version": "1.1.0",
                     "url": f"https://updates.ioto.invalid/{product['id']}/1.1.0.bin",
                     "checksum": ids.token(64).lower()}],
    }
    for n, (email, password) in enumerate(logins):
        account = {"id": ids.ulid(base_ms + n), "name": fake.company(), "email": email,
                   "created": BASE_DATE}
        world["accounts"].append(account)
        owner = {"id": ids.ulid(base_ms + n), "accountId": account["id"], "email": email,
                 "first": fake.first_name(), "last": fake.last_name(), "role": "owner",
                 "password": password}
        reader = {"id": ids.ulid(base_ms + n), "accountId": account["id"],
                  "email": f"viewer{n + 1}@example.com", "first": fake.first_name(),
                  "last": fake.last_name(), "role": "user", "password": password}
        world["users"] += [owner, reader]
        for d in range(CLAIMED_PER_ACCOUNT):
            device = _device(fake, ids, rnd, product, account["id"])
            world["devices"].append(device)
            _device_data(world, fake, ids, rnd, device, base_ms + d)
        world["alerts"].append({
            "id": ids.ulid(base_ms + n), "accountId": account["id"], "name": "HighTemperature",
            "seq": "1", "count": 1, "severity": "warning", "subject": "Temperature high",
            "message": fake.sentence(nb_words=8), "context": {}, "resolved": False,
            "timestamp": BASE_DATE})
        world["dashboards"].append({
            "id": ids.ulid(base_ms + n), "accountId": account["id"], "name": "Overview",
            "type": "dashboard", "layout": "grid", "widgets": []})
    for _ in range(UNCLAIMED):
        world["devices"].append(_device(fake, ids, rnd, product, None))
    return world


def _device(fake: Any, ids: Ids, rnd: random.Random, product: dict[str, Any],
            account_id: str | None) -> dict[str, Any]:
    device = {"id": ids.claim_id(), "product": product["name"], "productId": product["id"],
              "accountId": account_id, "name": fake.word() + "-" + str(rnd.randint(1, 99)),
              "model": product["name"], "description": fake.sentence(nb_words=5),
              "test": False, "version": "1.0.0", "connection": "offline"}
    if account_id:
        device["created"] = BASE_DATE
        device["apiToken"] = ids.token()
    return device


def _device_data(world: dict[str, Any], fake: Any, ids: Ids, rnd: random.Random,
                 device: dict[str, Any], stamp_ms: int) -> None:
    owner = {"accountId": device["accountId"], "deviceId": device["id"]}
    world["items"] += [
        {"_type": "Store", **owner, "key": "temperature", "value": rnd.randint(15, 30),
         "type": "number", "created": BASE_DATE, "updated": BASE_DATE},
        {"_type": "Store", **owner, "key": "mode", "value": rnd.choice(["auto", "manual"]),
         "type": "string", "created": BASE_DATE, "updated": BASE_DATE},
        *({"_type": "Log", **owner, "id": ids.ulid(stamp_ms + i), "message": fake.sentence(),
           "context": {}, "created": BASE_DATE, "updated": BASE_DATE} for i in range(3)),
        {"_type": "Command", **owner, "id": ids.ulid(stamp_ms), "command": "reboot",
         "args": {}, "created": BASE_DATE, "updated": BASE_DATE},
    ]
    world["metrics"].append({
        "deviceId": device["id"], "namespace": "Embedthis/Device", "metric": "temperature",
        "dimensions": {"Device": device["id"]},
        # One point a minute over the last two hours.
        "points": [{"ago": 60 * i + 30, "value": round(rnd.uniform(15, 30), 2)}
                   for i in range(120)]})
