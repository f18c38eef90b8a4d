"""Assembling the HTTP application: services, handlers and shared state."""

from __future__ import annotations

from tidings.api.lambda_api import HANDLERS as LAMBDA_HANDLERS
from tidings.api.pinpoint import HANDLERS as PINPOINT_HANDLERS
from tidings.api.state import State
from tidings.auth.authenticate import Authenticator
from tidings.auth.keyring import KeyRing
from tidings.campaigns.engine import CampaignEngine
from tidings.config import Settings
from tidings.functions.service import FunctionService
from tidings.jobs.service import JobService
from tidings.store.db import Database
from tidings.store.migrate import upgrade
from tidings.store.sealing import load_sealer
from tidings.wire import shapes
from tidings.wire.app import WireApp
from tidings.wire.model import LAMBDA_ERRORS, PINPOINT_ERRORS, Service, load_service_model


def services() -> list[Service]:
    return [
        Service("Pinpoint", load_service_model("pinpoint", "2016-12-01"), PINPOINT_ERRORS, PINPOINT_HANDLERS),
        Service("Lambda", load_service_model("lambda", "2015-03-31"), LAMBDA_ERRORS, LAMBDA_HANDLERS),
    ]


async def lifespan(phase: str, state: State) -> None:
    if phase == "startup":
        state.functions.start()
        if state.campaigns is not None:
            state.campaigns.start()
        if state.jobs is not None:
            state.jobs.start()
    else:
        if state.jobs is not None:
            await state.jobs.stop()
        if state.campaigns is not None:
            await state.campaigns.stop()
        await state.functions.stop()
        state.db.dispose()


def build_app(settings: Settings, db: Database | None = None) -> WireApp:
    """The ASGI application for ``settings``; migrations are applied to the store first."""
    db = db or Database(settings.database_url)
    upgrade(db)
    functions = FunctionService(db, settings)
    engine = CampaignEngine(db, settings, functions)
    item = load_service_model("pinpoint", "2016-12-01").shape_for("EndpointBatchItem")
    jobs = JobService(db, settings, check=shapes.checker(item), shape=shapes.tree(item))
    state = State(db=db, settings=settings, functions=functions, campaigns=engine, jobs=jobs)
    root = settings.root_key
    keys = KeyRing(db, load_sealer(settings.data_dir), root)
    authenticator = Authenticator(keys, settings.region)
    return WireApp(services(), state, authenticator, strict_output=settings.strict_output, lifespan=lifespan)
