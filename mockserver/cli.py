"""``losant-mock``: run the mock platform locally.

losant-mock serve [--host 127.0.0.1] [--port 8080] [--seed INT] [--fixtures PATH]
                  [--user EMAIL:PASSWORD ...] [--jwt-secret S]
                  [--throttle on|off] [--throttle-scale F] [--job-duration S]
                  [--mqtt on|off] [--mqtt-port 1883] [--mqtt-ws-port PORT|off]
                  [--data PATH]
                  [--cors on|off] [--cors-origin ORIGIN ...] [--fault RULE ...]
                  [--experience FILE [--experience-app ID] ...]
losant-mock data export PATH [FILE]          (FILE omitted: stdout)
losant-mock data import FILE PATH [--replace]
losant-mock clone --base-url URL (--token T | --email E --password P) --application ID
                  [--history 7d] [--max-devices N] (--out world.yaml | --dry-run)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from losant_kit.mockserver.clone import command as clone_command
from losant_kit.mockserver.experience.options import add_experience_arguments
from losant_kit.mockserver.settings import Settings


def _login(value: str) -> tuple[str, str]:
    email, sep, password = value.partition(":")
    if not sep or not email or not password:
        raise argparse.ArgumentTypeError(f"expected EMAIL:PASSWORD, got {value!r}")
    return email, password


def _on_off(value: str) -> bool:
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError("expected on or off")
    return value == "on"


def _fault(value: str) -> dict:
    from losant_kit.mockserver.faults import parse_cli_rule

    try:
        return parse_cli_rule(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="losant-mock",
        description="A stateful mock of the Losant platform API, driven by the kit's OpenAPI spec.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the mock server")
    serve.add_argument("--platform", default="losant", choices=_platforms(),
                       help="the platform API to serve (default losant)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--seed", type=int, default=1, help="seed of the generated world (default 1)"
    )
    serve.add_argument("--fixtures", type=Path, help="load the world from a YAML/JSON file")
    serve.add_argument(
        "--user",
        type=_login,
        action="append",
        default=[],
        metavar="EMAIL:PASSWORD",
        help="a login for the generated world (repeatable)",
    )
    serve.add_argument("--jwt-secret", help="token signing secret (default: random per run)")
    serve.add_argument(
        "--throttle",
        type=_on_off,
        default=True,
        metavar="on|off",
        help="enforce the platform's throttles (default on)",
    )
    serve.add_argument(
        "--throttle-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply throttle limits, e.g. 0.1 for 3 per 15 s (default 1)",
    )
    serve.add_argument(
        "--job-duration",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how long simulated jobs take on the mock's clock (default 2)",
    )
    serve.add_argument(
        "--mqtt", type=_on_off, default=True, metavar="on|off",
        help="run the embedded MQTT broker (default on)",
    )
    serve.add_argument(
        "--mqtt-port", type=int, default=1883, metavar="PORT",
        help="MQTT over TCP, as devices connect (default 1883)",
    )
    serve.add_argument(
        "--mqtt-ws-port", type=_port_or_off, default=None, metavar="PORT|off",
        help="MQTT over WebSocket (default off)",
    )
    serve.add_argument(
        "--data",
        type=Path,
        metavar="PATH",
        help="keep the whole state in this SQLite file across restarts (default: in memory)",
    )
    serve.add_argument(
        "--cors",
        type=_on_off,
        default=True,
        metavar="on|off",
        help="answer CORS preflights and add CORS headers (default on)",
    )
    serve.add_argument(
        "--cors-origin",
        nargs="+",
        action="extend",
        default=[],
        metavar="ORIGIN",
        help="allow only these origins, e.g. http://localhost:5173 (default: any)",
    )
    serve.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="RULE",
        help="a fault rule, e.g. 'device.get status=503 times=2' or JSON (repeatable)",
    )
    add_experience_arguments(serve)
    data = commands.add_parser("data", help="back up or restore a --data file")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    export = data_commands.add_parser("export", help="write a data file's state as JSON")
    export.add_argument("path", type=Path, metavar="PATH", help="the --data file")
    export.add_argument("file", type=Path, nargs="?", metavar="FILE",
                        help="where to write the JSON (default: stdout)")
    load = data_commands.add_parser("import", help="build a data file from an export")
    load.add_argument("file", type=Path, metavar="FILE", help="a `data export` JSON file")
    load.add_argument("path", type=Path, metavar="PATH", help="the --data file to create")
    load.add_argument("--replace", action="store_true",
                      help="overwrite PATH if it exists (never while a mock runs on it)")
    clone = commands.add_parser(
        "clone", help="copy a live application (read-only) into a world file"
    )
    clone_command.add_arguments(clone)
    return parser


def _platforms() -> list[str]:
    from losant_kit.mockserver.profiles import PLATFORMS

    return list(PLATFORMS)


def _port_or_off(value: str) -> int | None:
    if value == "off":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a port number or off") from None


def settings_from(args: argparse.Namespace) -> Settings:
    if args.throttle_scale <= 0:
        raise SystemExit("losant-mock: --throttle-scale must be positive")
    return Settings(
        seed=args.seed,
        fixtures=args.fixtures,
        users=tuple(args.user),
        jwt_secret=args.jwt_secret,
        throttle=args.throttle,
        throttle_scale=args.throttle_scale,
        job_duration_s=args.job_duration,
        mqtt_host=args.host,
        mqtt_port=args.mqtt_port if args.mqtt else None,
        mqtt_ws_port=args.mqtt_ws_port if args.mqtt else None,
        data=args.data,
        cors=args.cors,
        cors_origins=tuple(args.cors_origin),
        faults=tuple(args.fault),
        experiences=tuple(args.experience),
        platform=args.platform,
    )


def _experience_url(url: str, slug: str) -> str:
    """The experience's own origin: ``http://{slug}.localhost:PORT``."""
    scheme, _, rest = url.partition("://")
    port = rest.rpartition(":")[2] if ":" in rest else ""
    return f"{scheme}://{slug}.localhost" + (f":{port}" if port else "")


def banner(url: str, summary: dict, started_in: float, mqtt: str | None = None) -> str:
    lines = [f"Losant mock listening on {url}  (ready in {started_in:.2f} s)"]
    for login in summary.get("logins", []):
        lines.append(f"  login:        {login['email']} / {login['password']}")
    apps = summary.get("applications", [])
    if apps:
        first = apps[0]
        lines.append(
            f"  application:  {first['id']}  ({first['name']}, {first['deviceCount']} devices)"
        )
        for key in first.get("keys", [])[:1]:
            lines.append(f"  device key:   {key['key']} / {key['secret']}")
    for user in summary.get("experienceUsers", []):
        origin = _experience_url(url, user["slug"])
        lines.append(
            f"  experience:   {user['email']} / {user['password']}  "
            f"POST {origin}/api/auth  ({len(user['deviceIds'])} device(s))"
        )
    lines += [
        f"  spec:         {url}/openapi.json   Swagger UI: {url}/ui/",
        f"  inspector:    {url}/_mock/",
        f"  control API:  {url}/_mock/index.json  (reset, snapshot, requests, clock, faults, ...)",
        f"  index:        {url}/",
        *([f"  mqtt:         {mqtt}  (client id = device id, username/password = key/secret)"]
          if mqtt else []),
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def serve(args: argparse.Namespace) -> int:
    import gc
    import warnings

    from losant_kit.mockserver.gc_pause import settle_server_process

    gc.disable()  # until the app is built: see mockserver/gc_pause.py

    # Connexion imports Starlette's test client at import time; its deprecation
    # notice is noise for someone starting a server.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    import logging

    import uvicorn

    # Connexion logs every unknown query argument at warning level: noise for a mock
    # whose clients (and fuzzers) send whatever they like.
    logging.getLogger("connexion").setLevel(logging.ERROR)

    from losant_kit.fixtures import WorldFileError
    from losant_kit.mockserver.app import create_app
    from losant_kit.mockserver.errors import ValidationError
    from losant_kit.mockserver.experience.options import (
        ExperienceFileError,
        refusal_text,
    )
    from losant_kit.mockserver.persistence import DataFileError

    started = time.perf_counter()
    try:
        app = create_app(settings_from(args))
    except ValidationError as exc:
        print(f"losant-mock: --fault: {exc.message}", file=sys.stderr)
        return 2
    except ExperienceFileError as exc:
        print(f"losant-mock: {refusal_text(exc)}", file=sys.stderr)
        return 2
    except (WorldFileError, FileNotFoundError, DataFileError) as exc:
        print(f"losant-mock: {exc}", file=sys.stderr)
        return 2
    settle_server_process()
    busy = _busy_mqtt_port(app.settings)
    if busy is not None:
        print(f"losant-mock: MQTT port {busy} is in use (another mock or broker?); "
              "pass --mqtt-port PORT, or --mqtt off", file=sys.stderr)
        return 2
    url = f"http://{args.host}:{args.port}"
    mqtt = app.settings
    listeners = [f"mqtt://{args.host}:{mqtt.mqtt_port}" if mqtt.mqtt_port is not None else "",
                 f"ws://{args.host}:{mqtt.mqtt_ws_port}" if mqtt.mqtt_ws_port is not None else ""]
    mqtt_line = "  ".join(x for x in listeners if x) or None
    text = app.profile.banner(app, url, time.perf_counter() - started, mqtt_line)
    if app.data is not None:
        state = "new world stored" if app.data.is_new else "resumed"
        text += f"\nData file: {app.data.path} ({state})"
    print(text, flush=True)
    # uvicorn handles Ctrl-C (SIGINT) and SIGTERM with a graceful shutdown; open
    # SSE streams never end by themselves, so the grace period is short.
    # lifespan "on": the MQTT broker starts in it, and a failure there must stop the server.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="on",
                timeout_graceful_shutdown=2)
    if app.data is not None:
        app.data.close()
    return 0


def _busy_mqtt_port(settings: Settings) -> int | None:
    """The first MQTT port that cannot be bound, so the error is a sentence, not a trace."""
    import socket

    for port in (settings.mqtt_port, settings.mqtt_ws_port):
        if not port:
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((settings.mqtt_host, port))
            except OSError:
                return port
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "data":
        return data_command(args)
    if args.command == "clone":
        return clone_command.run(args)
    return 2


def data_command(args: argparse.Namespace) -> int:
    import json

    from losant_kit.mockserver.data_transfer import export_data, import_data, write_export
    from losant_kit.mockserver.persistence import DataFileError

    try:
        if args.data_command == "export":
            write_export(export_data(args.path), args.file)
            return 0
        try:
            document = json.loads(args.file.read_text())
        except (OSError, ValueError) as exc:
            raise DataFileError(f"{args.file}: not readable JSON ({exc})") from None
        counts = import_data(document, args.path, replace=args.replace)
    except DataFileError as exc:
        print(f"losant-mock: {exc}", file=sys.stderr)
        return 2
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    print(f"imported into {args.path}: {summary or 'an empty state'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
