"""The extractor runs on the one trafilatura release it is checked against (archiver.content.engine):
pyproject.toml pins it, the commands that extract stop at start with one line on another, and the
extractor refuses to load over another rather than fail on every page or archive other text."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import trafilatura

from archiver.content.engine import TRAFILATURA, installed_trafilatura, trafilatura_mismatch
from conftest import Site, assert_clean_error, db_rows, run_cli
from test_fetch import LOREM, article_page

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_pins_the_release_the_extractor_is_checked_against() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.findall(r'"trafilatura[^"]*"', pyproject) == [f'"trafilatura=={TRAFILATURA}"']
    assert installed_trafilatura() == trafilatura.__version__ == TRAFILATURA  # what the tests ran on


def test_the_installed_release_is_read_without_importing_it() -> None:
    code = ("import sys\nfrom archiver.content.engine import installed_trafilatura\n"
            "print(installed_trafilatura(), 'trafilatura' in sys.modules, 'importlib.metadata' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == [TRAFILATURA, "False", "False"], proc


def test_another_release_is_named_with_the_command_that_installs_the_right_one() -> None:
    assert trafilatura_mismatch(TRAFILATURA) is None
    older = trafilatura_mismatch("2.2.0")
    assert older is not None and "trafilatura 2.2.0 is installed" in older
    assert f"pip install 'trafilatura=={TRAFILATURA}'" in older and "\n" not in older
    missing = trafilatura_mismatch(None)
    assert missing is not None and "trafilatura is not installed" in missing


def test_the_extractor_refuses_to_load_over_another_release() -> None:
    # trafilatura 2.2.0 lacks functions the speedups replace: without the check, the import
    # failed with an AttributeError deep in archiver.content.speedups.
    code = ("import trafilatura; trafilatura.__version__ = '2.2.0'\n"
            "try:\n    import archiver.content.extractor\n"
            "except ImportError as err:\n    print(err)\nelse:\n    print('loaded')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == trafilatura_mismatch("2.2.0")


@pytest.fixture
def other_release(tmp_path: Path) -> dict[str, str]:
    """An environment where ``import trafilatura`` would load a package that declares 2.2.0 (ahead
    of site-packages on the path), with its metadata saying the same."""
    package = tmp_path / "fake" / "trafilatura"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Not trafilatura."""\n__version__ = "2.2.0"\n', encoding="utf-8")
    dist = tmp_path / "fake" / "trafilatura-2.2.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: trafilatura\nVersion: 2.2.0\n", encoding="utf-8")
    return {"PYTHONPATH": str(package.parent), "ARCHIVER_DB": str(tmp_path / "archive.db")}


def test_a_command_that_extracts_stops_at_start_on_another_release(site: Site, other_release: dict[str, str],
                                                                   tmp_path: Path) -> None:
    url = site.route("/news/story", article_page("A story", LOREM))
    for args in (["fetch", url], ["poll"], ["run", "--help"]):
        result = run_cli(*args, env=other_release)
        if args[-1] == "--help":
            assert result.code == 0 and "Usage" in result.out, result  # help needs no extractor
            continue
        assert result.code == 2, result
        assert_clean_error(result, "trafilatura 2.2.0 is installed", f"trafilatura=={TRAFILATURA}")
        assert len(result.err.strip().splitlines()) == 1, result.err
    assert site.hits("/news/story") == 0  # stopped before anything was fetched


def test_reading_the_archive_needs_no_extractor(site: Site, other_release: dict[str, str], tmp_path: Path) -> None:
    url = site.route("/news/story", article_page("A story", LOREM))
    db = other_release["ARCHIVER_DB"]
    assert run_cli("--db", db, "fetch", url).code == 0  # archived with the right release
    assert db_rows(Path(db), "SELECT count(*) FROM snapshots") == [(1,)]
    shown = run_cli("--db", db, "show", url, env=other_release)
    assert shown.code == 0 and "A story" in shown.out, shown
