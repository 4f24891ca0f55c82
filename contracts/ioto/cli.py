"""``losant-contracts run --platform ioto``: the Ioto suites against a target.

    losant-contracts run --platform ioto                       # a fresh in-process Ioto mock
    losant-contracts run --platform ioto --base-url http://127.0.0.1:8090   # a served mock
    losant-contracts run --platform ioto --base-url https://API --token CLOUDAPI \\
        --login-token T1 --other-login-token T2 --origin https://app.example.com
"""

from __future__ import annotations

import argparse
import sys

from losant_kit.contracts.ioto import SUITES


def add_arguments(run: argparse.ArgumentParser) -> None:
    ioto = run.add_argument_group("--platform ioto")
    ioto.add_argument("--login-token", help="Ioto: a login access token of a user")
    ioto.add_argument("--other-login-token",
                      help="Ioto: a login access token of a user of another account")
    ioto.add_argument("--origin", help="Ioto: the Origin header sent with login tokens")


def run(args: argparse.Namespace) -> int:
    from losant_kit.contracts.ioto.runner import run_ioto_suites
    from losant_kit.contracts.ioto.target import DEFAULT_ORIGIN, IotoOptions

    unknown = [s for s in (args.suites or []) if s not in SUITES]
    if unknown:
        print(f"losant-contracts: the Ioto suites are {', '.join(SUITES)} (not "
              f"{', '.join(unknown)})", file=sys.stderr)
        return 2
    options = IotoOptions(base_url=args.base_url, token=args.token,
                          login_token=args.login_token, other_login_token=args.other_login_token,
                          origin=args.origin or DEFAULT_ORIGIN, seed=args.seed,
                          max_examples=args.max_examples)
    where = args.base_url or "a fresh in-process Ioto mock"
    print(f"losant-contracts: Ioto suites {', '.join(args.suites or SUITES)} against {where}",
          flush=True)
    result = run_ioto_suites(args.suites, options, junit=args.junit, select=args.select)
    print(result.summary(), flush=True)
    return 0 if result.ok else (4 if result.exit_code == 4 else 1)
