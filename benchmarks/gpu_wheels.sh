#!/usr/bin/env bash
# Run HERE (the development machine, with the project's venv active) before a device check: the device
# image (Python 3.12, its own torch with CUDA, pyarrow, scipy, PyYAML, pytest…) lacks pydantic and reaches no
# network.  Downloads the wheels of pydantic and its needs (typing_extensions too, in case the image's is
# older than pydantic needs), in this venv's versions, into .whl/ (git-ignored through .git/info/exclude),
# which `run` then carries: carry=[".whl"].  benchmarks/gpu_checks.sh installs them there.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
pins=$(python -c "from importlib.metadata import version as v
print(' '.join(f'{n}=={v(n)}' for n in ('pydantic', 'pydantic_core', 'annotated_types', 'typing_inspection', 'typing_extensions')))")
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl $pins
ls .whl
