"""The leaderboard page in a real browser: headless Chromium renders the table and sorts it."""

import re
import shutil
import subprocess

import pytest

from regclip_bench.report import leaderboard
from test_leaderboard import store  # noqa: F401  (the module's store fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium)")


def chromium(profile, *args):
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def rows(dom, table="board"):
    body = dom.split(f"<table id=\"{table}\"", 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)]


def test_page_renders_sorts_and_screenshots(store, tmp_path):  # noqa: F811
    board = leaderboard.compute(str(store))
    leaderboard.write(board, tmp_path / "site")
    page = (tmp_path / "site" / "index.html").as_uri()
    dom = chromium(tmp_path / "p1", "--dump-dom", page)
    shown, others = rows(dom), rows(dom, "others")
    headline = [e for e in board["entries"] if e["headline"]]
    assert len(shown) == len(headline) and len(others) == len(board["entries"]) - len(headline) == 3
    assert all(len(r) == 13 for r in shown + others)
    assert {r[3] for r in others} == {"delta_gclip", "sgd"}         # optimizer names beside their colour swatch
    assert [r[0] for r in shown] == sorted(r[0] for r in shown)             # as written: by task
    descending = rows(chromium(tmp_path / "p2", "--dump-dom", page + "#sort=0-desc"))
    assert [r[0] for r in descending] == sorted((r[0] for r in shown), reverse=True)   # the click handler ran
    by_metric = rows(chromium(tmp_path / "p3", "--dump-dom", page + "#sort=4"))
    assert [r[4] for r in by_metric] == sorted(r[4] for r in shown)
    shot = tmp_path / "leaderboard.png"
    chromium(tmp_path / "p4", f"--screenshot={shot}", "--window-size=1400,900", page)
    assert shot.stat().st_size > 10_000
