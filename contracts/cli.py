"""``losant-contracts``: validate any implementation of the Losant API.

    losant-contracts run --base-url http://127.0.0.1:8080 \\
        --email dev@example.com --password losant-mock
    losant-contracts run --base-url https://api.losant.com --token "$TOKEN" --live-safe
    losant-contracts run                      # against a fresh in-process mock
    losant-contracts list                     # the suites
    losant-contracts experience --spec FILE --base-url URL --email E --password P
                                              # an experience held to its own OpenAPI file

Exit status: 0 when every selected test passed (skips allowed), 1 when any
failed, 2 for usage errors, 4 when the target could not be used.
"""

from __future__ import annotations

import argparse
import sys

from losant_kit.contracts.experience import command as experience_command
from losant_kit.contracts.ioto import cli as ioto_cli
from losant_kit.contracts.suites import SUITES

# --platform -> the run of that platform's suites (Losant's is main() below).
PLATFORM_RUNS = {"ioto": ioto_cli.run}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="losant-contracts", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run contract suites against a target")
    run.add_argument("--platform", default="losant", choices=["losant", *PLATFORM_RUNS],
                     help="the platform API the target implements (default losant)")
    ioto_cli.add_arguments(run)
    run.add_argument("--base-url", help="the implementation under test "
                                        "(default: a fresh mock, in-process)")
    run.add_argument("--token", help="bearer token (user or API token)")
    run.add_argument("--email", help="user email to log in with")
    run.add_argument("--password", help="user password to log in with")
    run.add_argument("--other-token", help="a second account's token: every id the first "
                                           "account created is tried with it (cross-tenant)")
    run.add_argument("--other-email", help="a second account's email (cross-tenant checks)")
    run.add_argument("--other-password", help="a second account's password")
    run.add_argument("--strict-coverage", action="store_true",
                     help="fail the run when an operation, rule or credential state was "
                          "exercised zero times")
    run.add_argument("--suite", action="append", choices=sorted(SUITES), dest="suites",
                     help="a suite to run (repeatable; default: all)")
    run.add_argument("--junit", metavar="PATH", help="write a JUnit XML report")
    run.add_argument("--live-safe", action="store_true",
                     help="touch only a sandbox application, stay under rate limits, "
                          "skip destructive and mock-only tests")
    run.add_argument("--application-id", help="sandbox application to use instead of "
                                              "creating one")
    run.add_argument("--workers", type=int, default=None,
                     help="parallel workers (needs pytest-xdist)")
    run.add_argument("--seed", type=int, default=1, help="seed of generated data "
                                                         "(and of the in-process mock)")
    run.add_argument("--max-examples", type=int, default=None,
                     help="examples per property/operation (default: the suites' own)")
    run.add_argument("-k", dest="select", help="only tests matching this pytest -k expression")
    run.add_argument("--real-time", action="store_true",
                     help="allow tests that wait real time (throttle windows) off the mock")
    run.add_argument("--rate", type=float, default=4.0,
                     help="client-side requests per second off the mock (default 4)")
    commands.add_parser("list", help="list the suites")
    experience_command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "list":
        for name, text in SUITES.items():
            print(f"{name:12} {text}")
        return 0
    if args.command == "experience":
        return experience_command.run(args)
    platform_run = PLATFORM_RUNS.get(args.platform)
    if platform_run is not None:
        return platform_run(args)
    if args.base_url and not args.token and not (args.email and args.password):
        print("losant-contracts: give --token, or --email and --password", file=sys.stderr)
        return 2
    if bool(args.other_email) != bool(args.other_password):
        print("losant-contracts: give --other-email together with --other-password",
              file=sys.stderr)
        return 2

    from losant_kit.contracts.runner import run_suites
    from losant_kit.contracts.target import Options

    options = Options(base_url=args.base_url, token=args.token, email=args.email,
                      password=args.password, live_safe=args.live_safe,
                      application_id=args.application_id, seed=args.seed,
                      max_examples=args.max_examples, real_time=args.real_time, rate=args.rate,
                      other_token=args.other_token, other_email=args.other_email,
                      other_password=args.other_password)
    where = args.base_url or "a fresh in-process mock"
    print(f"losant-contracts: suites {', '.join(args.suites or SUITES)} against {where}"
          f"{' (live-safe)' if args.live_safe else ''}", flush=True)
    result = run_suites(args.suites, options, junit=args.junit, workers=args.workers,
                        select=args.select, strict_coverage=args.strict_coverage)
    print(result.summary(), flush=True)
    return 0 if result.ok else (4 if result.exit_code == 4 else 1)


if __name__ == "__main__":
    sys.exit(main())
