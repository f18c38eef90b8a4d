"""The README's quick start, run as written with the AWS CLI against a live server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bash_blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```bash\n(.*?)```", text[start : end if end > 0 else None], re.S)


def test_readme_quick_start_runs(server, pinpoint):
    blocks = _bash_blocks("Quick start with the AWS CLI")
    script = "set -euo pipefail\n" + "\n".join(blocks)
    script = script.replace("http://127.0.0.1:8765", server.url)
    script += '\necho "RESULT $APP $SEGMENT $CAMPAIGN"\n'
    # No AWS keys in the environment: the quick start's own `tidings keys root` line provides
    # them (here the server's configured root key, which `keys root` prints like a stored one).
    client_env = {k: v for k, v in server.client_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env = {
        **client_env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "TIDINGS_ACCESS_KEY_ID": server.credentials[0],
        "TIDINGS_SECRET_ACCESS_KEY": server.credentials[1],
    }
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    app, segment, campaign = done.stdout.rsplit("RESULT ", 1)[1].split()

    assert "2 endpoint(s)" in done.stdout  # segments preview: ana and ben are on the pro plan
    endpoints = [
        pinpoint.get_endpoint(ApplicationId=app, EndpointId=e)["EndpointResponse"]
        for e in ("ana-sms", "ben-mail", "cy-sms")
    ]
    assert endpoints[0]["User"]["UserAttributes"]["facebookMessengerPsid"] == ["1667566386619741"]
    assert pinpoint.get_segment(ApplicationId=app, SegmentId=segment)["SegmentResponse"]["Name"] == "pro users"
    got = pinpoint.get_campaign(ApplicationId=app, CampaignId=campaign)["CampaignResponse"]
    assert got["SegmentId"] == segment and got["SegmentVersion"] == 1
    assert got["Hook"] == {"LambdaFunctionName": "messenger", "Mode": "DELIVERY"}
    assert got["State"]["CampaignStatus"] == "COMPLETED"  # `campaigns watch` waited for it
    assert "1 delivered, 0 failed, 0 left" in done.stdout
    [activity] = pinpoint.get_campaign_activities(ApplicationId=app, CampaignId=campaign)["ActivitiesResponse"]["Item"]
    assert activity["Result"] == "SUCCESS" and activity["SuccessfulEndpointCount"] == 1
    log = (Path(server.env["TIDINGS_DATA_DIR"]) / "logs" / "messenger.log").read_text()
    assert "to ana-sms at +15550100001: Welcome aboard!" in log
