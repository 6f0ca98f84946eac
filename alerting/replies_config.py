"""Reply settings: per-team templates and approval, as they appear in earshot.yaml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RepliesConfig(BaseModel):
    """How replies are drafted, approved and posted where the customer spoke."""

    model_config = ConfigDict(extra="forbid")
