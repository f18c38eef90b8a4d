"""TagResource, UntagResource and ListTagsForResource for apps, segments and campaigns."""

from __future__ import annotations

from tidings.domain.arns import parse_arn
from tidings.domain.errors import InvalidInput, NotFound
from tidings.store import apps, campaigns, segments, tags
from tidings.wire.app import Call

MAX_TAGS = 50


def _resource(call: Call, conn, arn_text: str) -> tuple[str, str]:
    """The canonical ARN and app id of an existing resource, or NotFound."""
    arn = parse_arn(arn_text)
    settings = call.state.settings
    if (arn.region, arn.account) != (settings.region, settings.account_id):
        raise NotFound(
            f"{arn_text} is not a resource of this server (region {settings.region}, account "
            f"{settings.account_id})",
            resource=arn_text,
        )
    apps.get(conn, arn.app_id)
    if arn.kind == "campaigns":
        campaigns.head(conn, arn.app_id, arn.child_id)
    elif arn.kind == "segments":
        if not segments.exists(conn, arn.app_id, arn.child_id):
            raise NotFound(f"Segment {arn.child_id!r} does not exist", resource=arn_text)
    elif arn.kind is not None:
        raise InvalidInput(
            f"Tidings tags applications, segments and campaigns; {arn_text} names {arn.kind}",
            member="resource-arn",
        )
    return arn.canonical(), arn.app_id


def tag_resource(call: Call, params: dict) -> dict:
    new = params["TagsModel"]["tags"]

    def work(conn):
        arn, app_id = _resource(call, conn, params["ResourceArn"])
        merged = {**tags.of(conn, arn), **new}
        if len(merged) > MAX_TAGS:
            raise InvalidInput(
                f"{arn} would have {len(merged)} tags; a resource may have at most {MAX_TAGS}",
                member="TagsModel.tags",
            )
        tags.put(conn, arn, app_id, new)

    call.state.db.transact(work)
    return {}


def untag_resource(call: Call, params: dict) -> dict:
    def work(conn):
        arn, _ = _resource(call, conn, params["ResourceArn"])
        tags.remove(conn, arn, params["TagKeys"])

    call.state.db.transact(work)
    return {}


def list_tags_for_resource(call: Call, params: dict) -> dict:
    with call.state.db.read() as conn:
        arn, _ = _resource(call, conn, params["ResourceArn"])
        return {"TagsModel": {"tags": tags.of(conn, arn)}}
