"""Application settings (campaign defaults) through boto3 and the AWS CLI against a live server."""

from __future__ import annotations

import json
import re

import pytest

DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
HOOK = {"LambdaFunctionName": "filter-audience", "Mode": "FILTER"}
LIMITS = {"Daily": 3, "Total": 50, "MessagesPerSecond": 200, "MaximumDuration": 600, "Session": 1}
QUIET = {"Start": "21:30", "End": "08:00"}
JOURNEY = {"DailyCap": 2, "TimeframeCap": {"Cap": 10, "Days": 7}, "TotalCap": 40}


def settings(pinpoint, app_id: str) -> dict:
    return pinpoint.get_application_settings(ApplicationId=app_id)["ApplicationSettingsResource"]


def put(pinpoint, app_id: str, **request) -> dict:
    return pinpoint.update_application_settings(
        ApplicationId=app_id, WriteApplicationSettingsRequest=request
    )["ApplicationSettingsResource"]


def error(caught) -> str:
    return caught.value.response["Error"]["Message"]


def test_new_app_has_empty_settings(pinpoint, app_id):
    got = settings(pinpoint, app_id)
    assert got["ApplicationId"] == app_id
    assert got["CampaignHook"] == {}
    assert got["Limits"] == {}
    assert got["QuietTime"] == {}
    assert "JourneyLimits" not in got
    assert DATE.fullmatch(got["LastModifiedDate"])


def test_update_settings(pinpoint, app_id):
    before = settings(pinpoint, app_id)
    updated = put(
        pinpoint,
        app_id,
        CampaignHook=HOOK,
        Limits=LIMITS,
        QuietTime=QUIET,
        JourneyLimits=JOURNEY,
        CloudWatchMetricsEnabled=True,
        EventTaggingEnabled=False,
    )
    assert updated["ApplicationId"] == app_id
    assert updated["CampaignHook"] == HOOK
    assert updated["Limits"] == LIMITS
    assert updated["QuietTime"] == QUIET
    assert updated["JourneyLimits"] == JOURNEY
    # The two booleans are write-only in Pinpoint: never echoed.
    assert "CloudWatchMetricsEnabled" not in updated and "EventTaggingEnabled" not in updated
    assert updated["LastModifiedDate"] >= before["LastModifiedDate"]
    assert settings(pinpoint, app_id) == updated


def test_members_left_out_are_kept(server, pinpoint, app_id):
    put(pinpoint, app_id, CampaignHook=HOOK, Limits=LIMITS, QuietTime=QUIET, JourneyLimits=JOURNEY)

    # A member that is sent replaces the stored one whole; the others stay.
    done = server.aws(
        "pinpoint",
        "update-application-settings",
        "--application-id",
        app_id,
        "--write-application-settings-request",
        json.dumps({"Limits": {"Daily": 7}}),
    )
    updated = done.json["ApplicationSettingsResource"]
    assert updated["Limits"] == {"Daily": 7}
    assert updated["CampaignHook"] == HOOK
    assert updated["QuietTime"] == QUIET
    assert updated["JourneyLimits"] == JOURNEY

    quiet = put(pinpoint, app_id, QuietTime={"Start": "23:00", "End": "06:00"})
    assert quiet["QuietTime"] == {"Start": "23:00", "End": "06:00"}
    assert quiet["Limits"] == {"Daily": 7}
    assert settings(pinpoint, app_id) == quiet


BAD_SETTINGS = {
    "daily-101": ({"Limits": {"Daily": 101}}, "Limits.Daily"),
    "total-101": ({"Limits": {"Total": 101}}, "Limits.Total"),
    "mps-0": ({"Limits": {"MessagesPerSecond": 0}}, "Limits.MessagesPerSecond"),
    "mps-20001": ({"Limits": {"MessagesPerSecond": 20001}}, "Limits.MessagesPerSecond"),
    "duration-59": ({"Limits": {"MaximumDuration": 59}}, "Limits.MaximumDuration"),
    "quiet-25h": ({"QuietTime": {"Start": "25:00", "End": "07:00"}}, "QuietTime.Start"),
    "quiet-no-colon": ({"QuietTime": {"Start": "22:00", "End": "0730"}}, "QuietTime.End"),
    "quiet-half": ({"QuietTime": {"Start": "22:00"}}, "QuietTime.End"),
    "hook-without-mode": ({"CampaignHook": {"LambdaFunctionName": "f"}}, "CampaignHook.Mode"),
    "hook-bad-name": (
        {"CampaignHook": {"LambdaFunctionName": "no spaces", "Mode": "FILTER"}},
        "LambdaFunctionName",
    ),
    "journey-daily": ({"JourneyLimits": {"DailyCap": 101}}, "JourneyLimits.DailyCap"),
    "journey-days": (
        {"JourneyLimits": {"TimeframeCap": {"Cap": 1, "Days": 31}}},
        "JourneyLimits.TimeframeCap.Days",
    ),
}


@pytest.mark.parametrize(
    ("request_", "wanted"), list(BAD_SETTINGS.values()), ids=list(BAD_SETTINGS)
)
def test_bad_settings_are_refused(pinpoint, app_id, request_, wanted):
    put(pinpoint, app_id, Limits=LIMITS, QuietTime=QUIET)
    before = settings(pinpoint, app_id)
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        put(pinpoint, app_id, **request_)
    assert wanted in error(caught)
    assert settings(pinpoint, app_id) == before


def test_settings_of_an_unknown_app_are_not_found(pinpoint):
    missing = "e" * 32
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        settings(pinpoint, missing)
    assert missing in error(caught)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        put(pinpoint, missing, Limits={"Daily": 1})
