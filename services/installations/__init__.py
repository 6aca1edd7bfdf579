"""Slack installations: which workspaces (or Enterprise Grid orgs) installed the app, with their tokens."""
