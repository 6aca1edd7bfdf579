"""A click or a choice in a message, a modal or the Home tab (`block_actions`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, TypeAdapter, ValidationError

from bot.requests.shapes import Interaction, Model, Name, Option, RecordId, State, UnreadablePayload, Value, View


class Action(Model):
    action_id: Name
    block_id: Name | None = None
    type: Name | None = None
    value: Value | None = None
    selected_option: Option | None = None
    selected_options: list[Option] = Field(default_factory=list, max_length=1000)


class Message(Model):
    ts: Name | None = None


class BlockAction(Interaction):
    kind: ClassVar[str] = "block_actions"
    type: Literal["block_actions"]
    actions: list[Action] = Field(min_length=1, max_length=25)
    view: View | None = None
    message: Message | None = None
    state: State | None = None  # the inputs of the message that holds the button

    @property
    def action(self) -> Action:
        return self.actions[0]

    def record_id(self) -> str:
        """The clicked button's value, when it names a record (a job, an organisation)."""
        try:
            return TypeAdapter(RecordId).validate_python(self.action.value, strict=True)
        except ValidationError:
            raise UnreadablePayload("the button carries no record id") from None

    def selected_value(self) -> str:
        """The option picked in a select menu."""
        if self.action.selected_option is None:
            raise UnreadablePayload("the action carries no selected option")
        return self.action.selected_option.value

    def open_view(self) -> View:
        if self.view is None or self.view.id is None:
            raise UnreadablePayload("the action did not come from a view")
        return self.view
