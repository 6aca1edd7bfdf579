"""The typed reader: every request Slack sends, verified and validated before any handler reads it.

bot/requests/reader.py reads (verify.py first); each kind has its module. Handlers import the payloads from here.
"""

from bot.requests.actions import Action, BlockAction
from bot.requests.commands import SlashCommand
from bot.requests.events import Event, EventCallback, UrlVerification
from bot.requests.options import BlockSuggestion
from bot.requests.shapes import CONTEXT_KEY, State, UnreadablePayload, View, ViewMetadata
from bot.requests.verify import MAX_BODY_BYTES, Rejected
from bot.requests.views import ViewSubmission

__all__ = ["CONTEXT_KEY", "MAX_BODY_BYTES", "Action", "BlockAction", "BlockSuggestion", "Event", "EventCallback",
           "Rejected", "SlashCommand", "State", "UnreadablePayload", "UrlVerification", "View", "ViewMetadata",
           "ViewSubmission"]
