import subprocess
import sys
import textwrap

import torch


def run_fresh(code: str) -> str:
    """Run code in a fresh interpreter, where torchvision has not been imported yet."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_shim_makes_torchvision_importable_and_usable():
    out = run_fresh("""
        import torch
        from regclip_bench._torchvision_compat import ensure_torchvision_importable
        import torchvision
        model = torchvision.models.resnet18(num_classes=10)
        x = torchvision.transforms.functional.hflip(torch.arange(6.).view(1, 2, 3))
        print(model.eval()(torch.zeros(1, 3, 32, 32)).shape[1], x[0, 0].tolist())
        print(ensure_torchvision_importable())   # second call: nothing left to define
    """)
    assert out.splitlines() == ["10 [2.0, 1.0, 0.0]", "[]"]


def test_shim_defines_exactly_the_missing_operators():
    out = run_fresh("""
        import torch
        def has(name):
            try:
                getattr(torch.ops.torchvision, name)
                return True
            except (AttributeError, RuntimeError):
                return False
        before = [n for n in ("nms", "qnms") if not has(n)]
        import regclip_bench._torchvision_compat
        print(before, [n for n in ("nms", "qnms") if not has(n)])
    """)
    missing_before, missing_after = out.split("] [")
    assert missing_after == "]"          # both operators exist after the shim
    # Here the CPU torch + CUDA torchvision pair lacks both; a proper install lacks neither.
    assert missing_before in ("['nms', 'qnms'", "[")


def test_package_imports_torchvision_only_through_the_shim():
    import re
    from pathlib import Path
    import regclip_bench
    package = Path(regclip_bench.__file__).parent
    direct = re.compile(r"^\s*(import torchvision|from torchvision\b)", re.MULTILINE)
    offenders = [str(path.relative_to(package)) for path in package.rglob("*.py")
                 if path.relative_to(package).as_posix() not in ("vision.py", "_torchvision_compat.py")
                 and direct.search(path.read_text())]
    assert offenders == [], "import torchvision via regclip_bench.vision"


def test_shim_is_a_no_op_once_the_operators_exist():
    from regclip_bench._torchvision_compat import ensure_torchvision_importable
    ensure_torchvision_importable()
    assert ensure_torchvision_importable() == []
    assert hasattr(torch.ops.torchvision, "nms")
