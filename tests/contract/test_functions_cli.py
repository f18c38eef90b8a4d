"""`tidings functions deploy` and `tidings functions invoke` against a live server."""

from __future__ import annotations

import uuid


def test_deploy_invoke_and_redeploy(server, lambda_client, tmp_path):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    (tmp_path / "pkg").mkdir()
    (tmp_path / "app.py").write_text("import os\ndef handler(e, c):\n    print('hi', e['who'])\n    return {'v': os.environ['VALUE']}\n")
    (tmp_path / "pkg" / "__init__.py").write_text("")
    deployed = server.tidings(
        "functions", "deploy", str(tmp_path), "--name", name, "--runtime", "python3.12",
        "--handler", "app.handler", "--env", "VALUE=1", "--url", server.url,
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr
    assert "created" in deployed.stdout
    refused = server.tidings(
        "functions", "deploy", str(tmp_path), "--name", f"{name}-x", "--runtime", "python3.12",
        "--handler", "app.handler", "--env", "V=1", "--url", server.url,
    )  # fmt: skip
    # Lambda wants variable names of two characters or more; the pattern is printed intact.
    assert refused.returncode == 1 and "[a-zA-Z]" in refused.stderr
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert (config["Runtime"], config["Environment"]) == ("python3.12", {"Variables": {"VALUE": "1"}})

    invoked = server.tidings("functions", "invoke", name, "--payload", '{"who": "ana"}', "--url", server.url)
    assert invoked.returncode == 0, invoked.stderr
    assert "hi ana" in invoked.stdout and "REPORT RequestId:" in invoked.stdout
    assert invoked.stdout.strip().endswith('{"v": "1"}')

    redeployed = server.tidings(
        "functions", "deploy", str(tmp_path), "--name", name, "--runtime", "python3.12",
        "--handler", "app.handler", "--env", "VALUE=2", "--url", server.url,
    )  # fmt: skip
    assert "updated" in redeployed.stdout
    assert server.tidings("functions", "invoke", name, "--payload", '{"who": "x"}', "--url", server.url).stdout.strip().endswith(
        '{"v": "2"}'
    )
    failed = server.tidings("functions", "invoke", name, "--payload", "{}", "--url", server.url)
    assert failed.returncode == 1 and "KeyError" in failed.stdout
    missing = server.tidings("functions", "invoke", "nobody-at-all", "--url", server.url)
    assert missing.returncode == 1 and "Function not found" in missing.stderr
    lambda_client.delete_function(FunctionName=name)
