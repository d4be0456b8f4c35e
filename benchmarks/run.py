"""`make bench`: ibkrws against IBind and the aiohttp+orjson floor, written to RESULTS.md.

Sets up IBind (latest, and 0.1.24 which has the seed's API) in venvs under benchmarks/.envs/,
then runs every scenario for every client, each in its own process against its own load-server
process, clients interleaved (the order rotates every repeat) so that a noisy neighbour hurts
them alike. Figures are medians over the repeats; ratios are taken pair by pair (ibkrws and the
peer of the same repeat and scenario) and then the median of those is reported. Ends with a
cProfile of ibkrws's receive path during a burst. Writes RESULTS.md and results.json beside
this file; `check.py` (`make bench-check`) reads the recorded ratio to the floor from the JSON.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness
from harness import Client, Scenario, Workspace

HERE = Path(__file__).resolve().parent
ENVS = HERE / ".envs"
RESULTS_MD = HERE / "RESULTS.md"
RESULTS_JSON = HERE / "results.json"

IBIND_ENVS = {  # venv name -> pip requirement
    "ibind-latest": "ibind",
    "ibind-0.1.24": "ibind==0.1.24",
}

BURST_REPEATS = 5
"""The burst ratio to the floor is the noisiest figure on a shared machine (pair ratios of one run
spread over ±0.1): its median is taken over more pairs than the other figures'."""

SCENARIOS = [
    Scenario("burst", "burst", count=100_000, max_seconds=8, repeats=BURST_REPEATS),
    Scenario("burst-tls", "burst", count=100_000, tls=True, max_seconds=8, repeats=BURST_REPEATS),
    Scenario("paced-5k", "paced", count=15_000, rate=5_000, max_seconds=12),
    Scenario("paced-20k", "paced", count=50_000, rate=20_000, max_seconds=12),
    Scenario("reconnect", "reconnect", rate=2_000, subs=50, max_seconds=15),
]

# (figure key, scenario, runner field, label, unit, higher is better)
FIGURES = [
    ("burst", "burst", "rate", "burst msg/s", "{:,.0f}", True),
    ("burst_tls", "burst-tls", "rate", "burst msg/s (TLS)", "{:,.0f}", True),
    ("cpu_100k", "burst", "cpu_per_100k", "CPU s / 100k msgs", "{:.2f}", False),
    ("p50_5k", "paced-5k", "p50_us", "p50 µs @5k/s", "{:,.0f}", False),
    ("p99_5k", "paced-5k", "p99_us", "p99 µs @5k/s", "{:,.0f}", False),
    ("p50_20k", "paced-20k", "p50_us", "p50 µs @20k/s", "{:,.0f}", False),
    ("p99_20k", "paced-20k", "p99_us", "p99 µs @20k/s", "{:,.0f}", False),
    ("cores_20k", "paced-20k", "cores", "CPU cores @20k/s", "{:.2f}", False),
    ("rss_mb", "burst", "rss_mb", "peak RSS MB", "{:.0f}", False),
    ("reconnect_s", "reconnect", "reconnect_s", "reconnect→data s (50 subs)", "{:.2f}", False),
]


def log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------------- environments


def ensure_ibind_envs(timeout: float = 300) -> dict[str, dict[str, Any]]:
    """Create/refresh the IBind venvs concurrently; name -> {"python", "version"} or {"error"}."""
    ENVS.mkdir(exist_ok=True)
    procs: dict[str, tuple[subprocess.Popen[str], Path]] = {}
    out: dict[str, dict[str, Any]] = {}
    for name, requirement in IBIND_ENVS.items():
        env = ENVS / name
        python = env / "bin" / "python"
        steps = []
        if not python.exists():
            steps.append(f"{sys.executable!s} -m venv {env!s}")
        upgrade = "--upgrade " if requirement == "ibind" else ""
        steps.append(f"{python!s} -m pip install --quiet --disable-pip-version-check {upgrade}'{requirement}'")
        logfile = tempfile.NamedTemporaryFile("w+", prefix=f"{name}-", suffix=".log", delete=False)
        procs[name] = (subprocess.Popen(" && ".join(steps), shell=True, stdout=logfile, stderr=subprocess.STDOUT,
                                        text=True), Path(logfile.name))
    deadline = time.monotonic() + timeout
    for name, (proc, logpath) in procs.items():
        try:
            code = proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = -1
        python = ENVS / name / "bin" / "python"
        version = _ibind_version(python) if python.exists() else None
        if version is None:
            lines = [ln for ln in logpath.read_text().splitlines() if "is ignored" not in ln]
            out[name] = {"error": f"install failed (exit {code}): " + " ".join(lines[-3:])[-300:]}
        else:
            out[name] = {"python": str(python), "version": version}
            if code != 0:
                out[name]["note"] = f"pip exited {code}; using the installed {version}"
        logpath.unlink(missing_ok=True)
    return out


def _ibind_version(python: Path) -> str | None:
    try:
        run = subprocess.run([str(python), "-c", "import importlib.metadata as m, ibind; print(m.version('ibind'))"],
                             capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    return run.stdout.strip() or None if run.returncode == 0 else None


def has_async_client() -> bool:
    try:
        from ibkrws import AsyncIbkrWsClient  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------------------ the run


def run_matrix(clients: list[Client], scenarios: list[Scenario], repeats: int, ws: Workspace) -> list[dict[str, Any]]:
    runs = []
    wanted = {s.name: max(s.repeats, repeats) for s in scenarios}
    for rep in range(max(wanted.values(), default=0)):
        for scenario in scenarios:
            if rep >= wanted[scenario.name]:
                continue
            shift = rep % len(clients)
            for client in clients[shift:] + clients[:shift]:
                result = harness.measure(client, scenario, ws, log=sys.stdout)
                result["repeat"] = rep
                runs.append(result)
                log(f"  [{rep + 1}/{wanted[scenario.name]}] {scenario.name:<10} {client.name:<14} "
                    f"{_summary(result)}")
    return runs


def _summary(r: dict[str, Any]) -> str:
    if "error" in r:
        return "ERROR " + r["error"][:160]
    parts = []
    if "rate" in r:
        parts.append(f"{r['rate']:,.0f} msg/s")
    if "p99_us" in r:
        parts.append(f"p50 {r['p50_us']:,.0f} µs p99 {r['p99_us']:,.0f} µs cores {r['cores']:.2f}")
    elif "cpu_per_100k" in r:
        parts.append(f"cpu/100k {r['cpu_per_100k']:.2f} s")
    if "reconnect_s" in r:
        parts.append(f"reconnect {r['reconnect_s']:.3f} s")
    if r.get("delivered", 0) < r.get("expected", 0):
        parts.append(f"delivered {r['delivered']}/{r['expected']} ({r.get('stopped_by')})")
    return ", ".join(parts) + f" [{r.get('elapsed_s', 0):.1f} s]"


def profile_ibkrws(ws: Workspace, python: str) -> str:
    """Top functions of ibkrws's worker thread (the receive path) under cProfile during a burst."""
    path = ws.root / "ibkrws.prof"
    scenario = Scenario("profile", "burst", count=100_000, max_seconds=15)
    result = harness.measure(Client("ibkrws", "ibkrws", python), scenario, ws, ["--profile", str(path)])
    if not path.exists():
        return f"(no profile: {result.get('error', 'unknown error')})"
    buf = io.StringIO()
    stats = pstats.Stats(str(path), stream=buf)
    stats.strip_dirs().sort_stats("tottime").print_stats(18)
    text = buf.getvalue()
    body = text[text.index("ncalls"):] if "ncalls" in text else text
    head = f"{result.get('delivered', 0):,} messages, {result.get('rate', 0):,.0f} msg/s under the profiler\n\n"
    return head + body.rstrip()


# --------------------------------------------------------------------------------------- aggregation


def _values(runs: list[dict[str, Any]], client: str, scenario: str, field: str) -> dict[int, float]:
    return {r["repeat"]: float(r[field]) for r in runs
            if r["client"] == client and r["scenario"] == scenario and "error" not in r and field in r}


def figures(runs: list[dict[str, Any]], clients: list[Client]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for client in clients:
        row = {}
        for key, scenario, field, *_ in FIGURES:
            values = list(_values(runs, client.name, scenario, field).values())
            if values:
                row[key] = statistics.median(values)
        out[client.name] = row
    return out


def pair_ratios(runs: list[dict[str, Any]], subject: str, peer: str) -> dict[str, float]:
    """Median over repeats of subject/peer, each ratio from one repeat of one scenario."""
    out = {}
    for key, scenario, field, *_ in FIGURES:
        a, b = _values(runs, subject, scenario, field), _values(runs, peer, scenario, field)
        ratios = [a[r] / b[r] for r in a if r in b and b[r] > 0]
        if ratios:
            out[key] = statistics.median(ratios)
    return out


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": model, "cores": os.cpu_count(),
            "python": platform.python_version()}


def versions(runs: list[dict[str, Any]], envs: dict[str, dict[str, Any]]) -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for dist in ("ibkrws", "aiohttp", "orjson"):
        try:
            out[dist] = version(dist)
        except Exception:  # noqa: BLE001 - a missing distribution is reported as such
            out[dist] = "not installed"
    try:
        commit = subprocess.run(["git", "-C", str(HERE), "describe", "--always", "--dirty"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        if commit:
            out["ibkrws"] += f" (git {commit})"
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        from ibkrws import speedups  # the runners inherit this process's environment, IBKRWS_NO_EXTENSIONS included

        out["ibkrws"] += ", C speedups on" if speedups.ENABLED else ", pure Python (no C speedups)"
    except ImportError:
        pass
    for name, env in envs.items():
        out[name] = env.get("version") or "not installed"
    return out


# --------------------------------------------------------------------------------------------- report


def _fmt(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)


def _ratio(value: float | None) -> str:
    return "<0.01" if value is not None and 0 < value < 0.005 else _fmt(value, "{:.2f}")


def write_report(data: dict[str, Any]) -> str:
    clients: list[dict[str, str]] = data["clients"]
    figs, ratios = data["figures"], data["ratios"]
    m, v = data["machine"], data["versions"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {data['date']} in {data['duration_s'] / 60:.1f} min "
        f"({data['repeats']} interleaved repeats, {data.get('burst_repeats', data['repeats'])} for the bursts; "
        f"load average {data['loadavg'][0]:.2f} before, "
        f"{data['loadavg'][1]:.2f} after: the machine is shared, so read the ratios, taken pair by pair, "
        "before the absolute figures).",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        "- Stream: IBKR-style `smd` frames of 216 bytes, binary opcode, from a dedicated sender process "
        "(`loadserver.py`); each client in its own process, consuming on a thread (or task) of its own. "
        "Send time in `_updated` and field 6119 (epoch µs). See `benchmarks/README.md`.",
        "",
        "## Figures (medians)",
        "",
        "| client | " + " | ".join(f[3] for f in FIGURES) + " |",
        "|---|" + "---:|" * len(FIGURES),
    ]
    for c in clients:
        row = figs.get(c["name"], {})
        lines.append(f"| {c['label']} | " + " | ".join(_fmt(row.get(f[0]), f[4]) for f in FIGURES) + " |")
    lines += ["", "## Ratios, pair by pair (median of per-repeat ratios)", "",
              "ibkrws ÷ peer; above 1 is better for throughput, below 1 is better for CPU, latency, memory and "
              "reconnect time.", "",
              "| ibkrws ÷ | " + " | ".join(f[3] for f in FIGURES) + " |",
              "|---|" + "---:|" * len(FIGURES)]
    for peer, row in ratios.items():
        lines.append(f"| {peer} | " + " | ".join(_ratio(row.get(f[0])) for f in FIGURES) + " |")
    lines += ["", "## Acceptance (issue 6)", ""]
    for item in data["acceptance"]:
        lines.append(f"- {'met' if item['met'] else '**not met**'}: {item['text']}")
    if data["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in data["notes"]]
    lines += ["", "## Where the time goes", "",
              "cProfile of ibkrws's worker thread (the receive path: socket → decode → route → unwrap → "
              "queues) during a 100k burst, top functions by own time. The consumer thread is not included. "
              "cProfile inflates per-call costs: `PROFILE.md` has a sampling (py-spy) breakdown and what to change.",
              "",
              "```", data["profile"], "```", ""]
    return "\n".join(lines)


def acceptance(figs: dict[str, dict[str, float]], ratios: dict[str, dict[str, float]],
               latest_label: str) -> list[dict[str, Any]]:
    items = []
    vs_ibind = ratios.get(latest_label, {})
    vs_floor = ratios.get("floor", {})
    ours = figs.get("ibkrws", {})

    def add(ok: bool | None, text: str) -> None:
        items.append({"met": bool(ok), "text": text if ok is not None else text + " (no figure)"})

    r = vs_ibind.get("burst")
    add(r is not None and r >= 8, f"burst throughput ≥ 8× {latest_label}: {_fmt(r, '{:.1f}')}×")
    r = vs_floor.get("burst")
    add(r is not None and r >= 0.6, f"burst throughput ≥ 60% of the floor: {_fmt(r and r * 100, '{:.0f}')}%")
    c = ours.get("cores_20k")
    add(c is not None and c <= 0.5, f"CPU at paced 20k msg/s ≤ 0.5 core: {_fmt(c, '{:.2f}')} core")
    r = vs_ibind.get("p99_5k")
    add(r is not None and r <= 1.0, f"p99 at paced 5k msg/s ≤ {latest_label}'s: "
        f"{_fmt(ours.get('p99_5k'), '{:,.0f}')} µs vs {_fmt(figs.get(latest_label, {}).get('p99_5k'), '{:,.0f}')} µs "
        f"(pair ratio {_fmt(r, '{:.2f}')})")
    return items


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS), help="comma-separated subset")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md/results.json")
    p.add_argument("--report-only", action="store_true", help="rewrite RESULTS.md from results.json, run nothing")
    args = p.parse_args(argv)
    if args.report_only:
        RESULTS_MD.write_text(write_report(json.loads(RESULTS_JSON.read_text())))
        return 0
    started, load_before = time.monotonic(), os.getloadavg()[0]
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    notes: list[str] = []

    log("bench: preparing IBind environments under benchmarks/.envs/ ...")
    envs = ensure_ibind_envs()
    python = sys.executable
    clients = [Client("floor", "floor", python, "aiohttp + orjson + SimpleQueue"),
               Client("ibkrws", "ibkrws", python, "IbkrWsClient + QueueAccessor.get")]
    if has_async_client():
        clients.append(Client("ibkrws-async", "ibkrws-async", python, "AsyncIbkrWsClient + async for"))
    else:
        notes.append("ibkrws async stream: skipped, `AsyncIbkrWsClient` does not exist yet.")
    latest_label = "IBind"
    for name in IBIND_ENVS:
        env = envs[name]
        if "error" in env:
            notes.append(f"{name}: not measured: {env['error']}")
            log(f"bench: {name}: {env['error']}")
            continue
        label = f"IBind {env['version']}"
        if name == "ibind-latest":
            latest_label = label
        if any(c.name == label for c in clients):
            continue  # latest is 0.1.24: measure it once
        clients.append(Client(label, "ibind", env["python"]))
        if "note" in env:
            notes.append(f"{label}: {env['note']}")
    log("bench: clients: " + ", ".join(c.name for c in clients))

    selected = set(args.scenarios.split(","))
    ws = Workspace()
    runs = run_matrix(clients, [s for s in SCENARIOS if s.name in selected], args.repeats, ws)
    profile = "(skipped)" if args.no_profile else profile_ibkrws(ws, python)

    figs = figures(runs, clients)
    ratios = {c.name: pair_ratios(runs, "ibkrws", c.name) for c in clients if c.name != "ibkrws"}
    for r in runs:
        if "error" in r:
            notes.append(f"run {r['repeat'] + 1} {r['scenario']} {r['client']}: {r['error'][:200]}")
        elif r.get("delivered", 0) < r.get("expected", 0):
            why = {"deadline": "stopped at the time bound", "idle": "the rest never arrived (dropped)"}
            notes.append(f"run {r['repeat'] + 1} {r['scenario']} {r['client']}: {r['delivered']:,} of "
                         f"{r['expected']:,} messages measured, {why.get(r.get('stopped_by', ''), '')}")
    latencies_from = "IBind 0.2.x drops `_updated` when unwrapping; its send time is read from field 6119."
    notes.append(latencies_from)
    data = {
        "date": date,
        "duration_s": time.monotonic() - started,
        "loadavg": [load_before, os.getloadavg()[0]],
        "repeats": args.repeats,
        "burst_repeats": max(args.repeats, BURST_REPEATS),
        "machine": machine(),
        "versions": versions(runs, envs),
        "clients": [{"name": c.name, "label": f"{c.name} ({c.note})" if c.note else c.name} for c in clients],
        "figures": figs,
        "ratios": ratios,
        "check": {"figure": "burst", "ratio_to_floor": ratios.get("floor", {}).get("burst")},
        "notes": notes,
        "profile": profile,
        "runs": runs,
    }
    data["acceptance"] = acceptance(figs, ratios, latest_label)
    report = write_report(data)
    if args.no_write:
        print(report)
    else:
        RESULTS_MD.write_text(report)
        RESULTS_JSON.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        log(f"bench: wrote {RESULTS_MD.relative_to(HERE.parent)} and {RESULTS_JSON.relative_to(HERE.parent)} "
            f"in {(time.monotonic() - started) / 60:.1f} min")
    for item in data["acceptance"]:
        log(f"bench: {'met' if item['met'] else 'NOT MET'}: {item['text']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
