"""Tracking categories and their options in a sandbox organisation, as Xero's Accounting API keeps them.

Xero allows two active tracking categories per organisation; an option is ACTIVE or ARCHIVED (an archived
option can no longer be put on a new invoice line). The demo organisations each have "Region" (North, South)
and "Department" (Consulting, Design).
"""

from __future__ import annotations

import uuid
from typing import Any

from .demo_data import stable_id

ACTIVE, ARCHIVED = "ACTIVE", "ARCHIVED"
MAX_NAME = 100
DEMO = {"Region": ("North", "South"), "Department": ("Consulting", "Design")}


def demo_categories(tenant_id: str) -> list[dict[str, Any]]:
    return [{"TrackingCategoryID": stable_id("tracking", tenant_id, name), "Name": name, "Status": ACTIVE,
             "Options": [_option(stable_id("option", tenant_id, name, option), option) for option in options]}
            for name, options in DEMO.items()]


def _option(option_id: str, name: str, status: str = ACTIVE) -> dict[str, Any]:
    return {"TrackingOptionID": option_id, "Name": name, "Status": status}


def categories(org: dict[str, Any]) -> list[dict[str, Any]]:
    return org.setdefault("TrackingCategories", demo_categories(org["TenantID"]))


def category(org: dict[str, Any], key: str) -> dict[str, Any] | None:
    return next((c for c in categories(org) if c["TrackingCategoryID"] == key), None)


def listed(org: dict[str, Any], include_archived: bool) -> list[dict[str, Any]]:
    """What GET /TrackingCategories answers: archived categories and options only when asked for."""
    shown = []
    for found in categories(org):
        if found["Status"] != ACTIVE and not include_archived:
            continue
        options = [o for o in found["Options"] if include_archived or o["Status"] == ACTIVE]
        shown.append({**found, "Options": [dict(o) for o in options]})
    return shown


def add_option(org: dict[str, Any], category_id: str, name: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """PUT /TrackingCategories/{id}/Options: the new option, or Xero's validation messages."""
    found = category(org, category_id)
    if found is None:
        return None, ["The tracking category could not be found"]
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        return None, ["Tracking option name is required"]
    if len(name) > MAX_NAME:
        return None, [f"Tracking option name must be {MAX_NAME} characters or fewer"]
    if any(o["Name"].casefold() == name.casefold() for o in found["Options"]):
        return None, [f"For each specified tracking option the name must be unique: '{name}' exists"]
    option = _option(str(uuid.uuid4()), name)
    found["Options"].append(option)
    return option, []


def set_option_status(org: dict[str, Any], category_id: str, option_id: str, status: str) -> dict[str, Any] | None:
    """A bookkeeper archives (or restores) an option in Xero's settings."""
    found = category(org, category_id)
    option = next((o for o in (found or {}).get("Options", []) if o["TrackingOptionID"] == option_id), None)
    if option is not None:
        option["Status"] = status
    return option


def line_problems(org: dict[str, Any], tracking: Any) -> list[str]:
    """Why Xero would refuse a line's Tracking: by name (Name/Option) or by id; only active options go on."""
    if tracking is None:
        return []
    if not isinstance(tracking, list):
        return ["Tracking must be a list"]
    problems = []
    for item in tracking:
        if not isinstance(item, dict):
            problems.append("Each tracking item must be a JSON object")
            continue
        found = next((c for c in categories(org) if c["TrackingCategoryID"] == item.get("TrackingCategoryID")
                      or (item.get("Name") and c["Name"].casefold() == str(item["Name"]).casefold())), None)
        if found is None or found["Status"] != ACTIVE:
            problems.append(f"Tracking category '{item.get('Name') or item.get('TrackingCategoryID')}' "
                            "does not exist or is not active")
            continue
        option = next((o for o in found["Options"] if o["TrackingOptionID"] == item.get("TrackingOptionID")
                       or (item.get("Option") and o["Name"].casefold() == str(item["Option"]).casefold())), None)
        if option is None:
            problems.append(f"Tracking option '{item.get('Option') or item.get('TrackingOptionID')}' does not "
                            f"exist in the tracking category '{found['Name']}'")
        elif option["Status"] != ACTIVE:
            problems.append(f"The tracking option '{option['Name']}' is archived and cannot be used")
    return problems


def on_line(org: dict[str, Any], tracking: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A valid line's Tracking as Xero stores it: category and option, by name and id."""
    stored = []
    for item in tracking:
        found = next(c for c in categories(org) if c["TrackingCategoryID"] == item.get("TrackingCategoryID")
                     or c["Name"].casefold() == str(item.get("Name", "")).casefold())
        option = next(o for o in found["Options"] if o["TrackingOptionID"] == item.get("TrackingOptionID")
                      or o["Name"].casefold() == str(item.get("Option", "")).casefold())
        stored.append({"TrackingCategoryID": found["TrackingCategoryID"],
                       "TrackingOptionID": option["TrackingOptionID"], "Name": found["Name"], "Option": option["Name"]})
    return stored
