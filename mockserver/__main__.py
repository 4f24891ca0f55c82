"""``python -m losant_kit.mockserver serve ...`` is the same as ``losant-mock serve ...``."""

from losant_kit.mockserver.cli import main

raise SystemExit(main())
