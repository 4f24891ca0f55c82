"""A no-op Connexion app on the platform spec: the framework floor for bench_peers.py.

The same document the mock hands Connexion (``PlatformSpec.for_connexion``),
Connexion's own routing, security and parameter/body validation, a bearer
check that accepts any token, and one endpoint that answers every operation
with a constant body. Whatever the mock spends beyond this is its own cost.

    python benchmarks/noop_connexion.py --port 18002
"""

from __future__ import annotations

import argparse
import logging
import warnings

warnings.filterwarnings("ignore")


def build():
    from connexion import AsyncApp
    from connexion.resolver import Resolver
    from connexion.security import BearerSecurityHandler

    from losant_kit.mockserver.app import _trusted_spec
    from losant_kit.mockserver.spec import PlatformSpec

    def token_info(token: str) -> dict:
        return {"sub": "anyone"}

    class AnyBearer(BearerSecurityHandler):
        def _resolve_func(self, security_scheme):
            return token_info

    async def noop(**kwargs):
        return {"success": True}

    app = AsyncApp(__name__, security_map={"bearer": AnyBearer})
    with _trusted_spec():
        app.add_api(PlatformSpec().for_connexion(),
                    resolver=Resolver(function_resolver=lambda operation_id: noop))
    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.getLogger("connexion").setLevel(logging.ERROR)
    uvicorn.run(build(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
