"""The suite refuses to run a test that is not isolated from the user's keyring and data."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def test_a_test_without_the_isolation_fixture_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    # A conftest without the `isolated` fixture: the guard plugin alone must catch it.
    pytester.makeconftest("")
    pytester.makepyfile(test_unisolated="def test_touches_real_state():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "tests.isolation_guard", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test is not isolated*isolated*did not run*"])
