"""``losant-mock clone``: copy a live application into a world file the mock serves.

losant-mock clone --base-url URL (--token T | --email E --password P)
                  --application ID [--history 7d] [--max-devices N]
                  [--rate 10] [--page-size 1000] (--out world.yaml | --dry-run)
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
TOKEN_ENV = "LOSANT_TOKEN"


def duration_s(text: str) -> int:
    """``7d``, ``36h``, ``90m``, ``600s`` (or plain seconds) as seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", text)
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"expected a duration like 7d, 24h or 90m, got {text!r}")
    return int(match.group(1)) * UNITS_S[match.group(2) or "s"]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", required=True,
                        help="the platform's API, e.g. https://api.losant.com (https, or loopback)")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                      help=f"a user or application API token (default: ${TOKEN_ENV})")
    auth.add_argument("--email", help="log in as this user instead (with --password)")
    parser.add_argument("--password", help="the user's password (only for the login)")
    parser.add_argument("--application", required=True, metavar="ID",
                        help="id of the application to clone")
    parser.add_argument("--history", type=duration_s, default=duration_s("7d"),
                        metavar="DURATION",
                        help="window of state history and events to copy (default 7d)")
    parser.add_argument("--max-devices", type=_positive, metavar="N",
                        help="copy at most N devices (the oldest first)")
    parser.add_argument("--out", type=Path, help="world file to write (.yaml, .yml or .json)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be read and written; send nothing")
    parser.add_argument("--rate", type=float, default=10.0, metavar="PER_S",
                        help="requests per second at most (default 10; 0: unpaced, loopback only)")
    parser.add_argument("--page-size", type=_positive, default=1000, metavar="N",
                        help="state reports per device.getState request (default 1000)")


@dataclass(frozen=True)
class CloneResult:
    devices: int
    reports: int
    requests: int
    bytes_read: int
    seconds: float
    summary: str
    problems: list[str]


@dataclass(frozen=True)
class Window:
    start_ms: int
    end_ms: int

    @staticmethod
    def ending_now(seconds: int) -> Window:
        end = int(time.time() * 1000)
        return Window(end - seconds * 1000, end)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str | None:
    """Why ``url`` is refused, or None: https anywhere, http only to this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"--base-url must be an http(s) URL, got {url!r}"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return (f"refusing {url}: credentials and data would travel unencrypted; "
                "use https (plain http is allowed for loopback hosts only)")
    return None


def run(args: argparse.Namespace) -> int:
    problem = _usage_problem(args)
    if problem:
        print(f"losant-mock clone: {problem}", file=sys.stderr)
        return 2
    window = Window.ending_now(args.history)
    if args.dry_run:
        print(plan(args, window))
        return 0
    from losant_kit.mockserver.clone.reader import CloneError

    try:
        result = clone(args, window)
    except CloneError as exc:
        print(f"\nlosant-mock clone: {exc}", file=sys.stderr)
        return 1
    print(result.summary)
    if result.problems:
        print(f"losant-mock clone: {args.out} was written but will not load as it is "
              "(the platform returned something the world format cannot hold):",
              *result.problems, sep="\n  ", file=sys.stderr)
        return 1
    return 0


def _usage_problem(args: argparse.Namespace) -> str | None:
    problem = check_base_url(args.base_url)
    if problem:
        return problem
    if args.email and not args.password:
        return "--email needs --password"
    if not args.email and not args.token:
        return f"give --token (or ${TOKEN_ENV}) or --email and --password"
    if not args.dry_run and args.out is None:
        return "--out is required (or --dry-run)"
    if args.out is not None and args.out.suffix.lower() not in (".yaml", ".yml", ".json"):
        return "--out must end in .yaml, .yml or .json"
    if args.rate < 0 or (args.rate == 0 and not is_loopback(urlsplit(args.base_url).hostname)):
        return "--rate must be positive (0, unpaced, is for loopback URLs only)"
    return None


def _iso(ms: int) -> str:
    from losant_kit.mockserver.times import iso_from_ms

    return iso_from_ms(ms)


def plan(args: argparse.Namespace, window: Window) -> str:
    """What a run would read, in order; nothing is sent."""
    app = f"/applications/{args.application}"
    login = [f"  POST {args.base_url}/auth/user   (login as {args.email})"] if args.email else []
    devices = f"at most {args.max_devices}" if args.max_devices else "all"
    rate = f"{args.rate:g} requests/s at most" if args.rate else "unpaced"
    lines = [
        "losant-mock clone (dry run): nothing is sent, nothing is written.",
        f"Would read from {args.base_url} ({rate}), with GET only:",
        *login,
        f"  GET {app}                         the application",
        "  GET /me                                   the owner (name and email; no password)",
        f"  GET {app}/devices                 {devices} devices, pages of 1000, by id",
        f"  GET {app}/devices/compositeState  their last values",
        f"  GET {app}/keys                    access keys (the API never returns secrets)",
        f"  GET {app}/tokens                  API tokens (the API never returns the tokens)",
        f"  GET {app}/device-recipes          recipes",
        f"  GET {app}/events                  events since {_iso(window.start_ms)}",
        f"  GET {app}/devices/ID/state        per device with state in the window: "
        f"{_iso(window.start_ms)} .. {_iso(window.end_ms)}, pages of {args.page_size}",
        f"Would write {args.out or '(no --out given)'}, with generated passwords, key secrets "
        "and API token strings listed in it; the token used to read is never written.",
    ]
    return "\n".join(lines)


def clone(args: argparse.Namespace, window: Window) -> CloneResult:
    from losant_kit.mockserver.clone.progress import Progress
    from losant_kit.mockserver.clone.reader import ApiReader
    from losant_kit.mockserver.clone.source import (
        device_history,
        read_application,
        reports_before,
        time_ms,
    )
    from losant_kit.mockserver.clone.writer import WorldBuilder, WorldWriter, check_loadable

    started = time.monotonic()
    with ApiReader(args.base_url, rate=args.rate, token=args.token) as reader:
        if args.email:
            reader.login(args.email, args.password)
        print(f"Reading application {args.application} from {args.base_url} ...", file=sys.stderr)
        app = read_application(reader, args.application, since_ms=window.start_ms,
                               max_devices=args.max_devices)
        builder = WorldBuilder(app, source=args.base_url)
        info = {
            "source": args.base_url,
            "applicationId": args.application,
            "clonedAt": _iso(window.end_ms),
            "history": {"start": _iso(window.start_ms), "end": _iso(window.end_ms)},
            "devices": len(app.devices),
            "truncated": app.truncated,
        }
        header = builder.header(info)
        writer = WorldWriter(args.out, header, comment=_comment(builder, info))
        progress = Progress(len(app.devices))
        points = 0
        written: list[dict] = []  # without history, to check the file loads
        try:
            for done, record in enumerate(app.devices, 1):
                last = app.last_values.get(record["id"], {})
                history = list(reports_before(last, window.start_ms))
                if any(e.get("time") and time_ms(e["time"]) >= window.start_ms
                       for e in last.values()):
                    history += device_history(reader, args.application, record["id"],
                                              window.start_ms, window.end_ms, args.page_size)
                points += len(history)
                device = builder.device(record, history)
                written.append({k: v for k, v in device.items() if k != "history"})
                writer.write_device(device)
                progress.update(done, reader.requests)
            writer.close()
        except BaseException:
            writer.abort()
            raise
        finally:
            progress.finish()
    seconds = time.monotonic() - started
    summary = _summary(args, app, builder, points, reader.requests, reader.bytes, seconds)
    return CloneResult(len(app.devices), points, reader.requests, reader.bytes, seconds, summary,
                       check_loadable(header, written))


def _comment(builder, info: dict) -> str:
    lines = [
        f"Cloned by losant-mock clone from {info['source']}, application {info['applicationId']},",
        f"at {info['clonedAt']}; state history and events from {info['history']['start']}.",
        "Serve it: losant-mock serve --fixtures THIS_FILE",
        "Secrets the platform never returns were generated (clone.generatedSecrets):",
    ]
    lines += [f"  {s['for']}: {s['value']}" for s in builder.generated]
    return "\n".join(lines)


def _summary(args, app, builder, points: int, requests: int, nbytes: int, seconds: float) -> str:
    attributes = sum(len(d.get("attributes") or []) for d in app.devices)
    truncated = " (--max-devices: there may be more)" if app.truncated else ""
    lines = [
        f"Wrote {args.out}: application {app.record['name']!r} ({app.record['id']})",
        f"  devices:    {len(app.devices)}{truncated}, {attributes} attributes",
        f"  history:    {points} state reports",
        f"  events:     {len(app.events)}   recipes: {len(app.recipes)}   "
        f"access keys: {len(app.keys)}   API tokens: {len(app.tokens)}",
        f"  read:       {requests} requests, {nbytes / 1e6:.1f} MB in {seconds:.1f} s",
        "Generated secrets (the platform never returns them; also listed in the file):",
        *[f"  {s['for']}: {s['value']}" for s in builder.generated],
    ]
    if builder.dropped_links:
        lines.append(f"Dropped {len(builder.dropped_links)} links to devices not cloned "
                     "(clone.droppedLinks)")
    lines.append(f"Serve it: losant-mock serve --fixtures {args.out}")
    return "\n".join(lines)
