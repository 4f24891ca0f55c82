"""The ``serve`` options that bind experience API files to applications.

``--experience FILE`` may be repeated; an ``--experience-app ID`` that
follows one names the application that file serves (default: the world's
first application).
"""

from __future__ import annotations

import argparse
from typing import Any

from losant_kit.mockserver.experience.file_errors import ApiFileError, BindingError

#: What ``losant-mock serve`` reports as a refused experience file (no traceback).
ExperienceFileError = (ApiFileError, BindingError)


class _ExperienceFile(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        files = list(getattr(namespace, "experience", None) or [])
        files.append((values, None))
        namespace.experience = files


class _ExperienceApp(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        files = list(getattr(namespace, "experience", None) or [])
        if not files or files[-1][1] is not None:
            parser.error("--experience-app ID follows the --experience FILE it applies to")
        files[-1] = (files[-1][0], values)
        namespace.experience = files


def add_experience_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--experience", action=_ExperienceFile, default=[], metavar="FILE",
        help="serve this OpenAPI 3.0 file as an application's experience endpoints, "
             "validating requests and replies against it (repeatable; "
             "specs/experience-extensions.md)",
    )
    parser.add_argument(
        "--experience-app", action=_ExperienceApp, metavar="ID",
        help="the application the preceding --experience file serves (default: the first)",
    )


def refusal_text(exc: Exception) -> str:
    """One line for the console: which option, which file, where in it, what is wrong."""
    return f"--experience {exc}" if isinstance(exc, ApiFileError) else str(exc)


def served_files(url: str, contracts: dict[str, Any]) -> list[str]:
    """Banner lines: which file each application serves, and where."""
    return [
        f"  experience API: {bound.api.source} -> application {app_id}  "
        f"({len(bound.api.operations)} operations at {url}/_experience/{app_id}/...)"
        for app_id, bound in contracts.items()
    ]
