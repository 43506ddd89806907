"""What every `skustudio` command shares: exit codes, the two error kinds, progress bars, resources from the
environment, and the parser parents (`--quiet`, `--home`)."""
from __future__ import annotations

import argparse
import getpass
import os
import sys
import warnings
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A usage or configuration error: exit 2."""


class CommandFailed(Exception):
    """The work ran and failed: exit 1."""


def err(message: str) -> None:
    print(f"skustudio: {message}", file=sys.stderr)


def progress(args, **kwargs):
    from tqdm import tqdm

    disable = bool(getattr(args, "quiet", False)) or not sys.stderr.isatty()
    return tqdm(file=sys.stderr, disable=disable, dynamic_ncols=True, **kwargs)


def set_home(home: str | None) -> None:
    if home:
        os.environ["SKUSTUDIO_HOME"] = str(Path(home).resolve())


def set_catalog(catalog: str | None) -> None:
    if catalog:
        os.environ["SKUSTUDIO_CATALOG"] = catalog if catalog.startswith("s3://") else str(Path(catalog).resolve())


def resources() -> dict:
    from orchestration.resources import resources_for_environment

    try:
        return resources_for_environment()
    except ValueError as exc:  # bad SKUSTUDIO_ENV, a missing production variable
        raise UsageError(str(exc)) from exc


def check_catalog(resources: dict) -> None:
    location = resources["catalog_source"].location
    if not str(location).startswith("s3://") and not Path(location).is_file():
        raise UsageError(f"catalog file not found: {location} (set SKUSTUDIO_CATALOG or pass --catalog)")


def check_promotion(resources: dict, promotion: str) -> None:
    found, errors = resources["promotions"].discover()
    if promotion not in found:
        detail = f"; files with errors: {'; '.join(str(e) for e in errors)}" if errors else ""
        raise UsageError(
            f"unknown promotion {promotion!r}: known promotions are {', '.join(sorted(found)) or 'none'} "
            f"(files in {resources['promotions'].folder}){detail}"
        )


def quiet_dagster_warnings() -> None:
    warnings.filterwarnings("ignore", message="Found asset job named", category=UserWarning)
    try:
        import dagster as dg

        for name in ("PreviewWarning", "BetaWarning"):
            if hasattr(dg, name):
                warnings.filterwarnings("ignore", category=getattr(dg, name))
    except Exception:  # pragma: no cover - dagster always imports here
        pass


_RAN_IN_PROCESS = False  # set by the commands that run Dagster jobs in this process


def ran_in_process() -> None:
    global _RAN_IN_PROCESS
    _RAN_IN_PROCESS = True


def ran_in_process_done() -> bool:
    """Whether a command ran Dagster jobs in this process (see `exit_now`)."""
    return _RAN_IN_PROCESS


def exit_now(code: int) -> None:
    """Leave without the interpreter's native teardown. After the pipeline has run in this process, a native
    library's static destructors sometimes abort at exit ("terminate called without an active exception",
    SIGABRT, exit status 134) after all the work is done and committed, which would turn a success into a
    failure for the calling script. Everything is flushed first; only the console entry point does this."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"




def quiet_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-q", "--quiet", action="store_true", help="no progress bars (they only show on a terminal anyway)")
    return parent


def debug_parent() -> argparse.ArgumentParser:
    """`--debug` after the command as well as before it (`skustudio --debug sync` and `skustudio sync --debug`)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="print the full traceback of any error, configuration errors included")
    return parent


def home_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--home", default=None, help="working folder (default $SKUSTUDIO_HOME or ./var)")
    return parent


FORMATTER = argparse.RawDescriptionHelpFormatter
