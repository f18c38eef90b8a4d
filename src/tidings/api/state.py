"""What every handler shares: the store and the server's settings."""

from __future__ import annotations

from dataclasses import dataclass

from tidings.campaigns.engine import CampaignEngine
from tidings.config import Settings
from tidings.domain import arns
from tidings.functions.service import FunctionService
from tidings.jobs.service import JobService
from tidings.store.db import Database
from tidings.store.sealing import Sealer


@dataclass
class State:
    db: Database
    settings: Settings
    functions: FunctionService
    sealer: Sealer  # seals and opens secrets at rest, with the master key of settings.data_dir
    campaigns: CampaignEngine | None = None  # runs campaigns; set by the server
    jobs: JobService | None = None  # runs import and export jobs; set by the server

    def app_arn(self, app_id: str) -> str:
        return arns.app_arn(self.settings.region, self.settings.account_id, app_id)

    def child_arn(self, app_id: str, kind: str, child_id: str) -> str:
        return arns.child_arn(self.settings.region, self.settings.account_id, app_id, kind, child_id)
