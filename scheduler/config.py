"""Settings for running the pipeline in one process or scaled out over NATS JetStream."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ScaleConfig(BaseModel):
    """How the pipeline's stages are run: in this process (the default) or as separate roles."""

    model_config = ConfigDict(extra="forbid")
