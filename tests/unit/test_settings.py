"""Where a server's suggested commands say it is, and its settings as `tidings serve` options."""

from __future__ import annotations

from dataclasses import fields

from tidings.config import Settings, env_name, option_name


def test_url_is_the_public_url_else_host_and_port():
    assert Settings().url == "http://127.0.0.1:8765"
    assert Settings(host="0.0.0.0", port=9000).url == "http://127.0.0.1:9000"
    assert Settings(host="::1", port=9000).url == "http://[::1]:9000"
    assert Settings(host="0.0.0.0", public_url="https://tidings.example.com/").url == "https://tidings.example.com"


def test_each_setting_is_named_as_an_option_and_a_variable():
    named = {item.name: (option_name(item), env_name(item)) for item in fields(Settings)}
    assert named["retry_base_delay_s"] == ("retry-base-delay", "TIDINGS_RETRY_BASE_DELAY")
    assert named["database_url"] == ("database-url", "TIDINGS_DATABASE_URL")
    assert all(item.metadata.get("help") for item in fields(Settings))
