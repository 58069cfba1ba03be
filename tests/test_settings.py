"""The typed settings (idp.settings): one field per setting of config.py's table."""

from dataclasses import fields

from config import VARIABLES
from config import load_config
from idp.settings import Settings
from idp.settings import config_key
from idp.settings import settings

# Read by Flask or its extensions, or copied under another key (PASSWORD_HASH_PROFILE).
READ_BY_EXTENSIONS = {"IDP_ENV", "IDP_SECRET_KEY", "IDP_DATABASE_URL", "IDP_RATELIMIT_STORAGE_URI",
                      "IDP_RATELIMIT_KEY_PREFIX", "IDP_DEBUG", "IDP_PASSWORD_HASH_PROFILE"}


def test_every_variable_of_the_table_is_a_setting_or_read_by_an_extension():
    keys = {config_key(each.name) for each in fields(Settings)}
    assert set(VARIABLES) - keys == READ_BY_EXTENSIONS


def test_every_setting_is_in_the_loaded_configuration():
    config = load_config({"IDP_ENV": "testing"})
    assert all(config_key(each.name) in config for each in fields(Settings))
    assert Settings.from_config(config).lockout_threshold == 3


def test_settings_follow_a_configuration_change(app):
    with app.app_context():
        before = settings()
        assert settings() is before  # built once per state of the configuration
        app.config["IDP_LOCKOUT_THRESHOLD"] = 5
        assert settings().lockout_threshold == 5
        app.config.update(IDP_LOCKOUT_MINUTES=45)
        assert settings().lockout_minutes == 45


def test_secrets_stay_out_of_the_settings_repr(app):
    app.config.update(IDP_MAIL_PASSWORD="smtp-hunter2", IDP_METRICS_TOKEN="t" * 40)
    with app.app_context():
        text = repr(settings())
    assert "smtp-hunter2" not in text
    assert "t" * 40 not in text
