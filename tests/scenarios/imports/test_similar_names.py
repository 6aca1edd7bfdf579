"""A customer whose name only resembles a Forecast client's is not created silently: the admin links or creates."""

from __future__ import annotations

import json

import pytest

from services.imports.customers import similar_name_key
from tests.scenarios.imports.test_customers import created, forecast_clients, pick, ready, submit_and_wait
from tests.support.forecast_standin import ForecastStandIn
from tests.support.import_flow import contact, open_import
from tests.support.slack_standin import TEAM_ID
from tests.support.xero_identity import UK_TENANT

STARK_LTD = contact(1, "Stark Industries Ltd", tenant="uk")
INITECH_UK = contact(2, "Initech UK", tenant="uk")
UMBRELLA = contact(3, "Umbrella Corporation", tenant="uk")
CLIENTS = [{"id": 11, "name": "Stark Industries"}, {"id": 12, "name": "Initech"}, {"id": 13, "name": "Umbrella Health"}]


@pytest.mark.parametrize("one, other", [
    ("Stark Industries Ltd", "Stark Industries"), ("Initech UK", "initech"), ("Globex, Inc.", "GLOBEX"),
    ("Acme Pty Ltd", "Acme"), ("Müller GmbH", "müller"), ("The Acme Co.", "Acme"),
    ("Smith & Sons PLC", "smith and sons"),
])
def test_names_that_differ_only_in_case_punctuation_and_legal_suffixes_are_similar(one, other):
    assert similar_name_key(one) == similar_name_key(other)


@pytest.mark.parametrize("one, other", [("Umbrella Corporation", "Umbrella Health"), ("UK Power", "Power"),
                                        ("Ltd", "Inc")])
def test_different_companies_are_not_similar(one, other):
    assert similar_name_key(one) != similar_name_key(other)


async def import_three(bot, xero) -> tuple[dict, ForecastStandIn]:
    await ready(bot, xero, uk=(STARK_LTD, INITECH_UK, UMBRELLA), us=())
    forecast = forecast_clients(xero, CLIENTS)
    _, view = await open_import(bot, "import customers")
    said = await submit_and_wait(bot, view, pick((UK_TENANT, STARK_LTD["ContactID"]),
                                                 (UK_TENANT, INITECH_UK["ContactID"]),
                                                 (UK_TENANT, UMBRELLA["ContactID"])))
    return said, forecast


async def click_and_wait(bot, button: dict) -> dict:
    """The decision runs as an import job, whose summary reaches the admin as an ephemeral message."""
    before = len(bot.slack.called("chat.postEphemeral"))
    await bot.click(button["action_id"], button["value"])
    call = await bot.slack.wait_for("chat.postEphemeral",
                                    lambda c: bot.slack.called("chat.postEphemeral").index(c) >= before)
    return call.args


def similar_buttons(said: dict) -> list[dict]:
    return [e for b in said["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def test_similar_names_are_held_back_with_a_warning_and_nothing_is_created_for_them(bot, xero):
    said, forecast = await import_three(bot, xero)
    assert [body["name"] for body in created(forecast)] == ["Umbrella Corporation"]  # not similar to Umbrella Health
    text = json.dumps(said["blocks"])
    assert "similar name" in text
    assert "Stark Industries Ltd" in text and "looks like the Forecast client *Stark Industries*" in text
    assert "Initech UK" in text and "*Initech*" in text
    labels = [b["text"]["text"] for b in similar_buttons(said)]
    assert labels == ["Link to Stark Industries", "Create a new client", "Link to Initech", "Create a new client"]
    assert await bot.container.links.by_xero_id(TEAM_ID, "client", UK_TENANT, STARK_LTD["ContactID"]) is None


async def test_link_links_the_contact_to_the_existing_client_without_creating_one(bot, xero):
    said, forecast = await import_three(bot, xero)
    answer = await click_and_wait(bot, similar_buttons(said)[0])
    assert "1 linked" in answer["text"] and "Stark Industries" in json.dumps(answer["blocks"])
    assert [body["name"] for body in created(forecast)] == ["Umbrella Corporation"]
    linked = await bot.container.links.by_xero_id(TEAM_ID, "client", UK_TENANT, STARK_LTD["ContactID"])
    assert str(linked.forecast_id) == "11"


async def test_create_makes_a_new_client_when_the_admin_says_so(bot, xero):
    said, forecast = await import_three(bot, xero)
    answer = await click_and_wait(bot, similar_buttons(said)[3])  # Initech UK
    assert "1 created" in answer["text"]
    assert [body["name"] for body in created(forecast)] == ["Umbrella Corporation", "Initech UK"]


async def test_members_cannot_use_the_link_button(bot, xero):
    said, forecast = await import_three(bot, xero)
    link = similar_buttons(said)[0]
    name = await bot.click(link["action_id"], link["value"], user="U0MEMBER")
    assert "Only admins" in json.dumps((await bot.reply_to(name)).args)
    assert await bot.container.links.by_xero_id(TEAM_ID, "client", UK_TENANT, STARK_LTD["ContactID"]) is None
