"""``losant-contracts experience``: the experience suite from the command line.

Import-light (the CLI parser loads it for every command); the suite loads in ``run``.

    losant-contracts experience --spec FILE --base-url URL --email E --password P
        [--other-email E2 --other-password P2] [--live-safe [--allow-unsafe]]
        [--rate N] [--junit PATH]

Exit status as ``losant-contracts run``: 0 passed, 1 failed, 2 usage, 4 the
target could not be used.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(commands: argparse._SubParsersAction) -> None:
    exp = commands.add_parser("experience", help="hold an experience to its own OpenAPI file")
    exp.add_argument("--spec", required=True, metavar="FILE",
                     help="the experience's OpenAPI 3.0 file (specs/experience-extensions.md)")
    exp.add_argument("--base-url", required=True,
                     help="https://SLUG.onlosant.com, or the mock's "
                          "http://127.0.0.1:PORT/_experience/SLUG")
    exp.add_argument("--email", required=True, help="an experience user's email")
    exp.add_argument("--password", required=True, help="that user's password")
    exp.add_argument("--other-email", help="a user of another tenant (tenancy checks)")
    exp.add_argument("--other-password", help="that user's password")
    exp.add_argument("--live-safe", action="store_true",
                     help="safe methods only (the login aside), nothing that logs users out")
    exp.add_argument("--allow-unsafe", action="store_true",
                     help="with --live-safe: fuzz POST/PUT/PATCH/DELETE operations too")
    exp.add_argument("--rate", type=float, default=None,
                     help="client-side requests per second (default 20; must stay below "
                          "the published 50 per experience)")
    exp.add_argument("--platform-email", help="platform login for the tokenCutoff check on "
                                              "the kit's mock (default its dev login)")
    exp.add_argument("--platform-password")
    exp.add_argument("--max-examples", type=int, default=None,
                     help="Schemathesis examples per operation and mode (default 10)")
    exp.add_argument("--seed", type=int, default=1)
    exp.add_argument("-k", dest="select", help="only tests matching this pytest -k expression")
    exp.add_argument("--junit", metavar="PATH", help="write a JUnit XML report")


def run(args: argparse.Namespace) -> int:
    from losant_kit.contracts.experience.runner import PARTS, run_experience
    from losant_kit.contracts.experience.target import (
        DEFAULT_RATE,
        PUBLISHED_RATE,
        ExperienceOptions,
    )

    if bool(args.other_email) != bool(args.other_password):
        print("losant-contracts: give --other-email together with --other-password",
              file=sys.stderr)
        return 2
    if args.rate is not None and not 0 < args.rate < PUBLISHED_RATE:
        print(f"losant-contracts: --rate must be above 0 and below the published "
              f"{PUBLISHED_RATE:g} requests/s per experience", file=sys.stderr)
        return 2
    options = ExperienceOptions(
        spec=args.spec, base_url=args.base_url, email=args.email, password=args.password,
        other_email=args.other_email, other_password=args.other_password,
        live_safe=args.live_safe, allow_unsafe=args.allow_unsafe,
        rate=args.rate or DEFAULT_RATE, seed=args.seed, max_examples=args.max_examples,
        platform_email=args.platform_email, platform_password=args.platform_password)
    print(f"losant-contracts: experience {args.spec} against {args.base_url}"
          f"{' (live-safe)' if args.live_safe else ''}: {', '.join(PARTS)}", flush=True)
    result = run_experience(options, junit=args.junit, select=args.select)
    print(result.summary(), flush=True)
    return 0 if result.ok else (4 if result.exit_code == 4 else 1)
