"""The leaderboard page in a real browser: headless Chromium renders the table and sorts it."""

import html
import json
import re
import shutil
import struct
import subprocess
from urllib.parse import quote

import pytest

from regclip_bench.report import leaderboard

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
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        for row in re.findall(r"<tr([^>]*)>(.*?)</tr>", body, flags=re.S) if "hidden" not in row[0]
        for row in [row[1]]]


def test_page_renders_sorts_and_screenshots(store, tmp_path):
    board = leaderboard.compute(str(store))
    leaderboard.write(board, tmp_path / "site")
    page = (tmp_path / "site" / "index.html").as_uri()
    dom = chromium(tmp_path / "p1", "--dump-dom", page)
    shown, others = rows(dom), rows(dom, "others")
    ran = [e for e in board["entries"] if e["status"] == "ran"]
    headline = [e for e in ran if e["headline"]]
    assert len(shown) == len(headline) and len(others) == len(ran) - len(headline) == 3
    assert all(len(r) == 8 for r in shown + others)   # workload, rank, what decides it, optimizer, metric, …
    assert {r[3] for r in others} == {"δ-GClip", "SGD"}                  # display names beside their colour swatch
    assert [r[0] for r in shown] == sorted(r[0] for r in shown)             # as written: by task, then workload
    descending = rows(chromium(tmp_path / "p2", "--dump-dom", page + "#sort=0-desc"))
    assert [r[0] for r in descending] == sorted((r[0] for r in shown), reverse=True)   # the click handler ran
    by_metric = rows(chromium(tmp_path / "p3", "--dump-dom", page + "#sort=4"))     # by each cell's data-sort
    means = [float(re.search(r" ([-\d.e]+) ±", r[4]).group(1)) for r in by_metric]
    assert means == sorted(means) and len(means) == len(shown)
    summary = dom.split('<table id="summary"', 1)[1].split("</table>", 1)[0]   # the summary figure: a row per
    assert summary.count('<th scope="row">') == len({e["workload"] for e in headline})   # headline workload
    shot = tmp_path / "leaderboard.png"
    chromium(tmp_path / "p4", f"--screenshot={shot}", "--window-size=1280,900", page)
    assert shot.stat().st_size > 10_000


def test_filters_show_only_the_chosen_task_and_workload(store, tmp_path):
    board = leaderboard.compute(str(store))
    leaderboard.write(board, tmp_path / "site")
    page = (tmp_path / "site" / "index.html").as_uri()
    ran = [e for e in board["entries"] if e["status"] == "ran"]
    workload = ran[0]["workload"]
    dom = chromium(tmp_path / "p1", "--dump-dom", page + "#workload=" + quote(workload))
    shown = rows(dom) + rows(dom, "others")
    assert shown and {r[0] for r in shown} == {workload}
    assert len(shown) == sum(e.get("workload") == workload for e in board["entries"])
    dom = chromium(tmp_path / "p2", "--dump-dom", page + "#task=digits_mlp")
    assert rows(dom) + rows(dom, "others") == []                   # "not yet run" in this store: one line below
    assert re.search(r'<p class="note" id="not-yet-run">Not yet run: [^<]*digits_mlp', dom)


MEASURE = """<script>
const table = document.getElementById('board');
parent.postMessage(JSON.stringify({inner: window.innerWidth, scroll: document.documentElement.scrollWidth,
  table: Math.ceil(table.getBoundingClientRect().right)}), '*');
</script></body>"""
PHONE = """<!doctype html><html><body style='margin:0'>
<iframe src='measured.html' width='390' height='844' style='border:0'></iframe>
<script>addEventListener('message', e => document.body.dataset.measured = e.data);</script></body></html>"""


@pytest.mark.parametrize("width", [390, 1280])
def test_nothing_is_wider_than_a_phone_or_a_laptop_window(store, tmp_path, width):
    """A phone's 390 CSS pixels (an iframe that wide: headless Chromium's windows are at least 500), where
    each entry becomes a card, and a 1280-px window, where the table fits: no horizontal scrolling."""
    board = leaderboard.compute(str(store))
    leaderboard.write(board, tmp_path / "site")
    page = tmp_path / "site" / "index.html"
    page.with_name("measured.html").write_text(page.read_text().replace("</body>", MEASURE))
    phone = page.with_name("phone.html")
    phone.write_text(PHONE.replace("390", str(width)))
    window = f"--window-size={max(width, 500) + 20},844"
    dom = chromium(tmp_path / "p1", "--dump-dom", "--virtual-time-budget=5000", "--allow-file-access-from-files",
                   window, phone.as_uri())
    sizes = json.loads(html.unescape(re.search(r'data-measured="([^"]+)"', dom).group(1)))
    assert sizes["inner"] == width
    assert sizes["table"] <= sizes["inner"] and sizes["scroll"] <= sizes["inner"], sizes
    shot = tmp_path / "page.png"
    chromium(tmp_path / "p2", f"--screenshot={shot}", window, "--virtual-time-budget=5000", phone.as_uri())
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", header[16:24]) == (max(width, 500) + 20, 844)
    assert shot.stat().st_size > 10_000
