"""``python -m losant_kit.contracts ...`` is the same as ``losant-contracts ...``."""

from losant_kit.contracts.cli import main

raise SystemExit(main())
