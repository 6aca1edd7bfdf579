"""Where things are in the checkout, whichever folder a test lives in."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CONTRACTS = ROOT / "tests" / "contracts"
