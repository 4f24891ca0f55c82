"""``losant-mock``: run the mock platform locally.

losant-mock serve [--host 127.0.0.1] [--port 8080] [--seed INT] [--fixtures PATH]
                  [--user EMAIL:PASSWORD ...] [--jwt-secret S]
                  [--throttle on|off] [--throttle-scale F] [--job-duration S]
losant-mock clone --base-url URL (--token T | --email E --password P) --application ID
                  [--history 7d] [--max-devices N] (--out world.yaml | --dry-run)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from losant_kit.mockserver.clone import command as clone_command
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="losant-mock",
        description="A stateful mock of the Losant platform API, driven by the kit's OpenAPI spec.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the mock server")
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
    clone = commands.add_parser(
        "clone", help="copy a live application (read-only) into a world file"
    )
    clone_command.add_arguments(clone)
    return parser


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
    )


def banner(url: str, summary: dict, started_in: float) -> str:
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
    lines += [
        f"  spec:         {url}/openapi.json   Swagger UI: {url}/ui/",
        f"  control API:  {url}/_mock/  (reset, snapshot, requests, clock, throttles, jobs)",
        f"  index:        {url}/",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def serve(args: argparse.Namespace) -> int:
    import warnings

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

    started = time.perf_counter()
    try:
        app = create_app(settings_from(args))
    except (WorldFileError, FileNotFoundError) as exc:
        print(f"losant-mock: {exc}", file=sys.stderr)
        return 2
    url = f"http://{args.host}:{args.port}"
    print(banner(url, app.world_summary, time.perf_counter() - started), flush=True)
    # uvicorn handles Ctrl-C (SIGINT) and SIGTERM with a graceful shutdown; open
    # SSE streams never end by themselves, so the grace period is short.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=2)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "clone":
        return clone_command.run(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
