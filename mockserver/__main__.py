"""``python -m mockserver serve ...`` is the same as ``losant-mock serve ...``."""

from mockserver.cli import main

raise SystemExit(main())
