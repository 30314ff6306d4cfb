"""The project's promises about itself: README and CI agree, the CLI behaves."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^(python3 -m venv .+)$", setup, flags=re.MULTILINE)


def test_readme_gives_two_setup_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert "regclip-bench" in commands[0] and "pytest" in commands[1]


def test_ci_runs_the_readmes_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_commands()[1] in ci.splitlines()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "regclip_bench.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)


def test_demo_runs_and_reports_the_regimes():
    done = run_cli("demo", "--steps", "80", "--log-every", "20")
    assert done.returncode == 0, done.stderr
    assert "h/η" in done.stdout and "‖g‖²/L" in done.stdout
    assert re.search(r"optimizer=sgd lr=1.0\s+diverged", done.stdout)
    assert re.search(r"optimizer=delta_gclip lr=1.0 gamma=0.3 delta=0.1\s+completed", done.stdout)
    assert re.search(r"\b(unclipped|clipped|floor)\b", done.stdout)


def test_bad_cli_input_exits_2_naming_the_option():
    done = run_cli("demo", "--steps", "0")
    assert done.returncode == 2
    assert "--steps" in done.stderr and "'0'" in done.stderr
    assert run_cli("no-such-command").returncode == 2


def test_every_option_of_every_command_says_what_it_is_and_version_prints():
    import argparse
    import subprocess
    import sys
    from importlib.metadata import version

    from regclip_bench.cli import build_parser
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    silent = [f"{name} {a.option_strings[0] if a.option_strings else a.dest}" for name, sub in commands.items()
              for a in sub._actions if a.help is None and not isinstance(a, argparse._HelpAction)]
    assert silent == []
    assert "examples:" in parser.format_help() and "regclip-bench run teacher_mlp" in parser.format_help()
    done = subprocess.run([sys.executable, "-m", "regclip_bench.cli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"regclip-bench {version('regclip-bench')}"


def test_commands_that_read_task_files_or_a_store_import_neither_torch_nor_ray():
    """`tasks`, `sweep --dry-run` and `query` start in well under a second because they never import
    torch or Ray (issue 31; benchmarks/startup.py times them)."""
    script = ("import sys, contextlib, io\n"
              "from regclip_bench.cli import main\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n"
              "    assert main(sys.argv[1:]) == 0\n"
              "print(' '.join(sorted(m for m in ('torch', 'ray', 'torchvision') if m in sys.modules)))")
    for command in (["tasks"], ["sweep", "teacher_mlp", "--dry-run"], ["sweep", "digits_mlp", "--budget", "16",
                    "--dry-run"], ["query", str(ROOT / "results" / "store")]):
        done = subprocess.run([sys.executable, "-c", script, *command], capture_output=True, text=True,
                              timeout=300, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "", (command, done.stdout)


def test_tasks_prints_a_header_and_lines_within_the_terminal():
    import os
    for columns in (80, 120):
        done = subprocess.run([sys.executable, "-m", "regclip_bench.cli", "tasks"], capture_output=True, text=True,
                              timeout=120, cwd=ROOT, env={**os.environ, "COLUMNS": str(columns)})
        lines = done.stdout.splitlines()
        assert done.returncode == 0 and lines[0].split() == ["TASK", "MODEL", "DATA", "KIND", "BUDGET", "DESCRIPTION"]
        assert len(lines) == 1 + len(list((ROOT / "regclip_bench" / "tasks").glob("*.yaml")))
        assert max(map(len, lines)) <= columns and any(line.endswith("…") for line in lines)


def test_the_packages_imports_form_no_circle():
    """Every import of the package's modules — at the top or inside a function — points one way
    (docs/architecture.md): a circle, even one deferred into a function, fails here with its path."""
    import ast
    package = ROOT / "regclip_bench"
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
               for p in package.rglob("*.py")}

    def imports(name: str, path: Path) -> set[str]:
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = here.split(".")[:len(here.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        return {m for m in found if m in modules and m != name and not name.startswith(m + ".")}

    graph = {name: imports(name, path) for name, path in modules.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for other in sorted(graph[module]):
            assert state.get(other) != 1, "import circle: " + " → ".join(path[path.index(other):] + [other])
            if other not in state:
                visit(other)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert len(graph) > 50 and graph["regclip_bench.config"] >= {"regclip_bench.spec"}
