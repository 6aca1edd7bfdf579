"""Sandbox stand-in for a small Slack workspace (Web API, signed requests to the bot, a browser page)."""

from sandbox.slack.app import SLACK_DISPATCHER, SLACK_INSTALLS, SLACK_STATE, create_slack_app
from sandbox.slack.state import SlackState

__all__ = ["SLACK_DISPATCHER", "SLACK_INSTALLS", "SLACK_STATE", "SlackState", "create_slack_app"]
