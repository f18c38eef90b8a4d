"""Amazon Resource Names in Pinpoint's forms.

Pinpoint documents ``arn:aws:mobiletargeting:<region>:<account>:apps/<app>/campaigns/<id>``;
older documents (and the policies written from them) put a slash before ``apps``. Both
spellings name the same resource.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidings.domain.errors import InvalidInput

SERVICE = "mobiletargeting"


def app_arn(region: str, account: str, app_id: str) -> str:
    return f"arn:aws:{SERVICE}:{region}:{account}:apps/{app_id}"


def child_arn(region: str, account: str, app_id: str, kind: str, child_id: str) -> str:
    return f"{app_arn(region, account, app_id)}/{kind}/{child_id}"


# What an import or export job reaches besides its app, authorized with the key's policy:
# files under --files-root (tidings:ReadFiles / tidings:WriteFiles) and S3 objects read with
# the server's own AWS credentials (s3:GetObject).
READ_FILES, WRITE_FILES, READ_S3 = "tidings:ReadFiles", "tidings:WriteFiles", "s3:GetObject"


def files_arn(region: str, account: str, path: str) -> str:
    """A file or directory on the server, e.g. arn:aws:tidings:us-east-1:000000000000:files/srv/x.json."""
    return f"arn:aws:tidings:{region}:{account}:files{path}"


def s3_arn(bucket: str, prefix: str) -> str:
    """Objects of ``bucket`` whose keys start with ``prefix``, as S3 spells them in policies."""
    return f"arn:aws:s3:::{bucket}/{prefix}*"


@dataclass(frozen=True)
class PinpointArn:
    region: str
    account: str
    app_id: str
    kind: str | None = None  # "campaigns", "segments", ...
    child_id: str | None = None

    def canonical(self) -> str:
        if self.kind:
            return child_arn(self.region, self.account, self.app_id, self.kind, self.child_id or "")
        return app_arn(self.region, self.account, self.app_id)


def parse_arn(arn: str, member: str = "resource-arn") -> PinpointArn:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != SERVICE:
        raise InvalidInput(
            f"{member} must be a Pinpoint resource ARN such as "
            f"arn:aws:{SERVICE}:us-east-1:000000000000:apps/<app-id>, got {arn!r}",
            member=member,
        )
    resource = parts[5].lstrip("/").split("/")
    if len(resource) not in (2, 4) or resource[0] != "apps" or not all(resource):
        raise InvalidInput(
            f"{member} must name apps/<app-id> or apps/<app-id>/<kind>/<id>, got {arn!r}",
            member=member,
        )
    if len(resource) == 2:
        return PinpointArn(parts[3], parts[4], resource[1])
    return PinpointArn(parts[3], parts[4], resource[1], resource[2], resource[3])
