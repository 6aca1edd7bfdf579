from services.platform.crypto import SecretBox, generate_key
from services.shared.settings import (
    OrganisationDefaults,
    SettingsChanges,
    SettingsDefaults,
    WorkspaceSettings,
    WorkspaceSettingsService,
)


def service(storage, **defaults):
    return WorkspaceSettingsService(storage, SecretBox(generate_key()), SettingsDefaults(**defaults))


async def test_environment_values_are_the_defaults_until_an_admin_changes_them(storage):
    settings = service(storage, approval_channel="C0ENV", forecast_api_key="env-key")
    current = await settings.get("T1")
    assert current.approval_channel == "C0ENV" and current.export_status == "DRAFT" and current.has_forecast_key
    await settings.update("T1", SettingsChanges(approval_channel="C0NEW", export_status="AUTHORISED"), updated_by="U")
    current = await settings.get("T1")
    assert current.approval_channel == "C0NEW" and current.export_status == "AUTHORISED"
    assert await settings.forecast_api_key("T1") == "env-key"


async def test_forecast_key_is_stored_encrypted_and_an_empty_field_keeps_it(storage):
    settings = service(storage)
    await settings.update("T1", SettingsChanges(forecast_api_key="forecast-secret-key"), updated_by="U")
    raw = await storage.workspace_settings.find_one({"_id": "T1"})
    assert "forecast-secret-key" not in str(raw)
    await settings.update("T1", SettingsChanges(forecast_api_key="", tax_type="OUTPUT2"), updated_by="U")
    assert await settings.forecast_api_key("T1") == "forecast-secret-key"


async def test_settings_are_per_workspace(storage):
    settings = service(storage)
    await settings.update("T1", SettingsChanges(notify_channel="C1"), updated_by="U")
    assert (await settings.get("T2")).notify_channel is None


def test_saving_per_organisation_choices_keeps_what_applied_to_an_organisation_the_form_could_not_show():
    before = WorkspaceSettings(team_id="T1", account_code="200", tax_type="OUTPUT2",
                               organisation_defaults={"T-NZ": OrganisationDefaults(tax_type="OUTPUT")})
    changes = before.organisation_changes({"T-UK": OrganisationDefaults(account_code="260")},
                                          ["T-UK", "T-NZ", "T-US"])
    after = before.model_copy(update=changes)
    assert after.line_defaults("T-UK") == ("260", None)  # its own choice, not the workspace-wide one
    assert after.line_defaults("T-NZ") == before.line_defaults("T-NZ") == ("200", "OUTPUT")
    assert after.line_defaults("T-US") == before.line_defaults("T-US") == ("200", "OUTPUT2")
