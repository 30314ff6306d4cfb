"""The leaderboard's web page, from a Jinja2 template with autoescaping (templates/leaderboard.html.j2) and
its stylesheet and script as files (static/), written beside index.html.

Read top to bottom in about 30 seconds: one summary figure — headline workloads × optimizers, each cell the
optimizer's score on that workload normalised so that the best is 1, a star where the first's lead is
separated — then one sentence per task, the table (rank beside the quantity that decides it), the
findings folded by task, the tasks not yet run on one line, and the rules.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from ..optim.registry import OPTIMIZERS
from ..summary import fmt
from . import colors

STATIC = Path(__file__).with_name("static")
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                         autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                         keep_trailing_newline=True)
METRIC_LABELS = {"final_loss": "final training loss", "test_loss": "test loss per example"}
FIGURES = (("tunability", "tunability"), ("lr", "LR sensitivity"), ("loss", "loss curves"))


def metric_label(metric: str) -> str:
    """`final_excess_risk` → "final excess risk" (the store's column names, in words)."""
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def display(name: str, origin: list[str] | None = None) -> str:
    """An optimizer's display name: a built-in's from its registry entry; a plug-in's class name, from the
    origin its trials record ("submission lion (lion_pytorch:Lion)" → "Lion"); else its name."""
    if name in OPTIMIZERS:
        return OPTIMIZERS[name].display
    found = re.search(r":([A-Za-z_][\w.]*)\)?$", (origin or [""])[0])
    return found.group(1).rsplit(".", 1)[-1] if found else name


def humanize(text: str, names: dict[str, str]) -> str:
    """Optimizer ids and metric columns in a generated claim, as a reader names them."""
    for name in sorted(names, key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", names[name], text)
    return re.sub(r"\b(final|initial)_[a-z_]+\b", lambda m: metric_label(m.group(0)), text)


def _names(entries: list[dict[str, Any]]) -> dict[str, str]:
    return {e["optimizer"]: display(e["optimizer"], e["provenance"].get("optimizer_origin"))
            for e in entries if e["status"] == "ran"}


# --- what decides a rank, and the summary's normalised score ---------------------------------------

def decisive(entry: dict[str, Any]) -> tuple[str, float, str]:
    """(what decides the entry's rank, its value — lower is better, infinite for a miss —, in words).  Of an
    entry as leaderboard.json holds it too, where a number that is not finite is null
    (`leaderboard.strict_json`): a null time is a miss, a null metric none."""
    selection, held = entry["selection"], entry["ranked_by"] == "held-out seeds"
    unit = "steps" if selection["time_measure"] == "steps_to_target" else "s"
    label = metric_label(selection["metric"])
    sign = 1.0 if selection["direction"] == "min" else -1.0
    if selection["score"] == "time_to_target":
        if held:
            time, reach, n = entry["time_to_target_median"], entry["p_reach"], entry["seeds"]["reported_on"]
            reached = f"{round(reach * n)}/{n} seeds reached"
            if _finite(time):
                return "time", time, f"{fmt(time)} {unit} to target (median; {reached})"
            return "metric", sign * _number(entry["metric_mean"]), f"missed the target ({reached}); {label} {fmt(entry['metric_mean'])}"
        expected = entry["expected_best_at_equal_budget"]
        k = expected["k"]
        if _finite(expected["time_to_target"]):
            return "time", expected["time_to_target"], f"E[best of {k}] {fmt(expected['time_to_target'])} {unit} to target"
        return ("metric", sign * _number(expected["metric"]),
                f"E[best of {k}] can miss (P reach {fmt(expected['p_reach'], 2)}); {label} {fmt(expected['metric'])}")
    if held:
        return "metric", sign * _number(entry["metric_mean"]), f"mean {label} {fmt(entry['metric_mean'])}"
    expected = entry["expected_best_at_equal_budget"]
    return "metric", sign * _number(expected["metric"]), f"E[best of {expected['k']}] {label} {fmt(expected['metric'])}"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _number(value: float | None) -> float:
    return math.nan if value is None else value


def normalised(entries: list[dict[str, Any]]) -> dict[str, float]:
    """optimizer → its score on one workload over the best one's: 1 for the first, 0 for a miss where
    others reached the target.  Times: best / time; a metric to minimise: best / value; to maximise:
    value / best."""
    decided = {e["optimizer"]: decisive(e) for e in entries}
    timed = {o: v for o, (kind, v, _) in decided.items() if kind == "time"}
    if timed:
        best = min(timed.values())
        return {o: (best / timed[o] if o in timed and timed[o] > 0 else 1.0 if o in timed else 0.0) for o in decided}
    values = {o: v for o, (_, v, _) in decided.items()}
    finite = [v for v in values.values() if math.isfinite(v)]
    if not finite:
        return dict.fromkeys(values, 0.0)
    best = min(finite)
    if best < 0:   # a metric to maximise, oriented: value / best
        return {o: (v / best if math.isfinite(v) and v < 0 else 0.0) for o, v in values.items()}
    # a loss or risk: below ZERO it is zero to float32's resolution, and two such are alike
    return {o: ((best + ZERO) / (v + ZERO) if math.isfinite(v) else 0.0) for o, v in values.items()}


ZERO = 1e-7   # a loss below this counts as zero in the summary's ratios (float32 resolves ~1e-7 of O(1))


def _separated(leader: dict[str, Any] | None) -> bool:
    """Whether a leader finding says the first is ahead of every other beyond the interval."""
    if not leader or leader["evidence"].get("not_separated_from"):
        return False
    against = leader["evidence"].get("against", {})
    return bool(against) and next(iter(against.values()))["verdict"] == "better"


def summary(board: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    ran = [e for e in board["entries"] if e["status"] == "ran" and e["headline"]]
    workloads = list(dict.fromkeys((e["task"], e["workload"]) for e in ran))
    optimizers = colors.order({e["optimizer"] for e in ran})
    leaders = {f["workload"]: f for f in board.get("findings", []) if f["kind"] == "leader"}
    rows = []
    for task, workload in workloads:
        mine = [e for e in ran if e["workload"] == workload]
        scores = normalised(mine)
        first = min(mine, key=lambda e: e["rank"])
        star = _separated(leaders.get(workload))
        cells = []
        for o in optimizers:
            entry = next((e for e in mine if e["optimizer"] == o), None)
            if entry is None:
                cells.append(None)
                continue
            cells.append({"score": scores[o], "text": f"{scores[o]:.2f}", "rank": entry["rank"],
                          "star": star and entry is first, "title": f"{names[o]}, rank {entry['rank']}: "
                                                                     f"{decisive(entry)[2]}"})
        rows.append({"task": task, "workload": workload, "cells": cells})
    return {"optimizers": [{"name": o, "display": names[o], "color": colors.of(o)} for o in optimizers],
            "rows": rows}


def sentences(board: dict[str, Any], names: dict[str, str]) -> list[dict[str, str]]:
    """One sentence per task, from its first headline workload: who ranks first, by how much, and where
    δ-GClip stands (its rank; whether its floor engaged)."""
    out = []
    ran = [e for e in board["entries"] if e["status"] == "ran" and e["headline"]]
    found = board.get("findings", [])
    for task in dict.fromkeys(e["task"] for e in ran):
        workload = next(e["workload"] for e in ran if e["task"] == task)
        mine = sorted((e for e in ran if e["workload"] == workload), key=lambda e: (e["rank"], e["optimizer"]))
        text = (_who_leads(mine, names, found, workload) + _where_delta_gclip_stands(mine)
                + _what_its_floor_did(found, task, workload))
        out.append({"task": task, "workload": workload, "text": text + "."})
    return out


def _who_leads(mine: list[dict[str, Any]], names: dict[str, str], found: list[dict], workload: str) -> str:
    first = mine[0]
    text = f"{names[first['optimizer']]} ranks first, {decisive(first)[2]}"
    leader = next((f for f in found if f["kind"] == "leader" and f["workload"] == workload), None)
    if leader is None or len(mine) < 2:
        return text
    close = leader["evidence"].get("not_separated_from", [])
    if _separated(leader):
        return text + ", ahead of every other beyond the 95% interval"
    if close:
        return text + f", not separated from {', '.join(names.get(o, o) for o in close)}"
    return text + ", its lead not separated"


def _where_delta_gclip_stands(mine: list[dict[str, Any]]) -> str:
    clipped = next((e for e in mine if e["optimizer"] == "delta_gclip"), None)
    if clipped is None or clipped is mine[0]:
        return ""
    return f"; δ-GClip ranks {clipped['rank']} of {len(mine)}, {decisive(clipped)[2]}"


def _what_its_floor_did(found: list[dict], task: str, workload: str) -> str:
    floor = next((f for f in found if f["kind"] == "floor" and f["workload"] == workload
                  and f["evidence"].get("optimizer") == "delta_gclip"), None)
    if floor is not None:
        return f"; its δ floor engaged on {floor['evidence']['frac_floor']:.0%} of steps"
    idle = [f for f in found if f["kind"] == "floor" and f["task"] == task and not f["workload"]]
    if any(w["workload"] == workload and w["optimizer"] == "delta_gclip"
           for f in idle for w in f["evidence"].get("workloads", [])):
        return "; its δ floor stayed idle (it ran as GClip)"
    return ""


# --- the table ------------------------------------------------------------------------------------

def row(entry: dict[str, Any], names: dict[str, str], pages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    page = pages.get(entry["task"])
    kind, value, words = decisive(entry)
    p = entry["provenance"]
    figures = []
    if page:
        folder = page["page"].rsplit("/", 1)[0]
        for prefix, label in FIGURES:
            figures += [{"label": label, "href": quote(f"{folder}/{n}.png")}
                        for n in page["figures"].get(entry["workload"], []) if n.startswith(prefix + "-")]
    seeds = entry["seeds"]
    expected = entry["expected_best_at_equal_budget"]
    details = [("configuration", ", ".join(f"{k}={v}" for k, v in entry["configuration"].items())),
               (f"E[best of {expected['k']}] on the tuning seeds",
                f"{metric_label(entry['selection']['metric'])} {fmt(expected['metric'])}"
                + (f"; time {fmt(expected['time_to_target'])}, P reach {fmt(expected['p_reach'], 2)}"
                   if entry["selection"]["score"] == "time_to_target" else "")),
               ("LR sensitivity", fmt(entry["lr_sensitivity"])), ("stable lr decades", fmt(entry["stable_lr_decades"])),
               ("run by", "the suite (plug-in: " + ", ".join(p["optimizer_origin"]) + ")"
                if p.get("optimizer_origin") else "the suite"),
               ("seeds", f"tuning {', '.join(map(str, seeds['tune']))}; held-out "
                         f"{', '.join(map(str, seeds['report'])) or 'none'}"),
               ("commit", commits(p) or "unknown"),
               ("versions", f"torch {', '.join(p.get('torch', [])) or '?'}, Ray {', '.join(p.get('ray', [])) or '?'}"),
               ("hardware", "; ".join(p.get("hardware", [])) or "unknown"),
               ("ran", " to ".join(t[:16].replace("T", " ") for t in p["ran"]) if p.get("ran") else "unknown"),
               ("sweeps", ", ".join(p.get("sweep_ids", [])))]
    return {"task": entry["task"], "workload": entry["workload"], "rank": entry["rank"],
            "optimizer": entry["optimizer"], "display": names[entry["optimizer"]], "color": colors.of(entry["optimizer"]),
            "plugin": bool(p.get("optimizer_origin")), "decided": words, "decided_sort": value if math.isfinite(value) else 1e308,
            "metric": metric_label(entry["selection"]["metric"]),
            "mean_ci": f"{fmt(entry['metric_mean'])} ± {fmt(entry['metric_ci95'], 2)}", "mean": entry["metric_mean"],
            "seeds": seed_words(seeds)
                     + (f", {entry['diverged']} diverged" if entry["diverged"] else "")
                     + (f", {entry['no_progress']} no progress" if entry["no_progress"] else ""),
            "budget": f"{_count(entry['budget']['configurations'], 'configuration')}, "
                      f"{_count(entry['budget']['trials'], 'trial')}",
            "details": details, "figures": figures,
            "workload_href": quote(page["page"]) + "#" + quote(entry["workload"], safe="") if page else None}


def beside(board: dict[str, Any], published: dict[str, Any] | None) -> list[dict[str, str]]:
    """Each of `board`'s entries on a workload the published leaderboard has (the same workload key), beside
    the published entry of the same optimizer: what decides the rank, on which seeds, and the rank."""
    if not published:
        return []
    theirs = {(e["workload_key"], e["optimizer"]): e for e in published.get("entries", []) if e.get("status") == "ran"}
    sizes: dict[str, int] = {}
    for e in theirs.values():
        sizes[e["workload_key"]] = sizes.get(e["workload_key"], 0) + 1
    names = _names([e for e in board["entries"] if e["status"] == "ran"])
    out = []
    for entry in (e for e in board["entries"] if e["status"] == "ran"):
        other = theirs.get((entry["workload_key"], entry["optimizer"]))
        if other is None:
            continue
        try:
            out.append({"workload": entry["workload"], "optimizer": names[entry["optimizer"]],
                        "yours": f"{decisive(entry)[2]}; {seed_words(entry['seeds'])}",
                        "published": f"{decisive(other)[2]}; {seed_words(other['seeds'])}; rank {other['rank']} of "
                                     f"{sizes[other['workload_key']]}"})
        except (KeyError, TypeError):   # a leaderboard.json of an older schema: nothing to set beside
            continue
    return out


def seed_words(seeds: dict[str, Any]) -> str:
    """What reports an entry: "10 held-out seeds (chosen on 3)", or "3 seeds (chosen on them)"."""
    if seeds["report"]:
        return f"{len(seeds['report'])} held-out seeds (chosen on {len(seeds['tune'])})"
    return f"{len(seeds['tune'])} seeds (chosen on them)"


def commits(provenance: dict[str, Any]) -> str:
    """The commits an entry's trials ran from, short."""
    return ", ".join(c[:7] for c in provenance.get("git_commits", []))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def write_leaderboard(board: dict[str, Any], out: Path, pages: dict[str, dict[str, Any]],
                      profile_rows: list[dict[str, str]], submitted_note: str,
                      published: dict[str, Any] | None = None) -> Path:
    names = _names(board["entries"] + board.get("submitted", []))
    ran = [e for e in board["entries"] if e["status"] == "ran"]
    found = board.get("findings", [])
    by_task = [{"task": task, "claims": [{"workload": f["workload"], "claim": humanize(f["claim"], names),
                                          "headline": f["headline"]} for f in found if f["task"] == task]}
               for task in dict.fromkeys(f["task"] for f in found)]
    context = {
        "summary": summary(board, names), "sentences": sentences(board, names), "findings": by_task,
        "headline": [row(e, names, pages) for e in ran if e["headline"]],
        "others": [row(e, names, pages) for e in ran if not e["headline"]],
        "submitted": [row(e, names, pages) for e in board.get("submitted", [])],
        "submitted_note": submitted_note,
        "not_yet_run": [e["task"] for e in board["entries"] if e["status"] != "ran"],
        "tasks": list(dict.fromkeys(e["task"] for e in board["entries"])),
        "workloads": list(dict.fromkeys(e["workload"] for e in ran)),
        "profile": profile_rows, "profile_workloads": board["profile"].get("workloads", []),
        "rules": board["rules"], "beside": beside(board, published),
    }
    (out / "index.html").write_text(ENV.get_template("leaderboard.html.j2").render(**context))
    for name in ("leaderboard.css", "leaderboard.js"):
        shutil.copyfile(STATIC / name, out / name)
    return out / "index.html"
