"""The engine stays readable: no module over 600 lines, no function over 60 (bin/engine-sizes)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_engine_module_over_600_lines_nor_function_over_60() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "bin" / "engine-sizes")], capture_output=True, text=True)
    over = [line for line in r.stdout.splitlines() if "=" in line or int(line.split()[0]) > 600]
    assert r.returncode == 0 and not over, over
