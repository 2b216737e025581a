from __future__ import annotations

import sys
from pathlib import Path

# Test helpers (rule_contract.py) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
