"""Xero stand-in for sandbox mode and end-to-end tests.

    app = create_xero_app(data_dir, public_base_url="http://127.0.0.1:3001/xero")
    state = app[XERO_STATE]   # organisations, tokens, faults, rate limiter
"""

from .app import create_xero_app
from .demo_data import stable_id
from .keys import PUBLIC_BASE_URL, SPEC_CHECKER, XERO_STATE
from .state import Fault, FaultKind, RateLimiter, XeroState

__all__ = [
    "create_xero_app", "XERO_STATE", "PUBLIC_BASE_URL", "SPEC_CHECKER", "XeroState", "Fault", "FaultKind",
    "RateLimiter", "stable_id",
]
