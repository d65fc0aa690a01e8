"""One validation pass during training: loss, MAE, IoU and Fβ, and a preview grid.

Each rank scores its shard of the validation split; the sums are all-reduced, so every rank
returns the means over the whole split.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from torch.utils.data import DataLoader

from pmgsam.engine import distributed as D
from pmgsam.engine.config import PerformanceConfig
from pmgsam.engine.losses import SegmentationLoss, monitor_metrics
from pmgsam.engine.performance import to_memory_format


@torch.no_grad()
def run_validation(
    model: torch.nn.Module,
    loader: DataLoader,
    loss_fn: SegmentationLoss,
    device: torch.device,
    amp_dtype: Optional[torch.dtype],
    perf: PerformanceConfig,
    preview_images: int = 0,
) -> Tuple[Dict[str, float], Optional[torch.Tensor]]:
    """Means over all images of all ranks (``loss``, ``mae``, ``iou``, ``f``; ``images``: the
    count), and a grid of the first ``preview_images`` images of this rank (rows: image, GT,
    pre-mask, mask), or ``None`` when it shows none. ``model`` is back in train mode after.
    """
    model.eval()
    # loss, mae, iou, f, images: accumulated on the device, read once after the loop.
    sums = torch.zeros(5, dtype=torch.float64, device=device)
    previews: List[torch.Tensor] = []
    for batch in loader:
        images = to_memory_format(batch["image"].to(device, non_blocking=True), perf)
        masks = batch["mask"].to(device, non_blocking=True)
        with D.autocast(device, amp_dtype):
            outputs = model(images)
        loss, _ = loss_fn(outputs, masks)
        n = images.shape[0]
        m = monitor_metrics(outputs["mask"], masks, batch["orig_size"])
        parts = [loss.detach() * n, m["mae"], m["iou"], m["f"], loss.new_tensor(n)]
        sums += torch.stack([p.double() for p in parts])
        for i in range(min(n, preview_images - len(previews))):
            pre, mask = (torch.sigmoid(outputs[k][i].float()) for k in ("pre_mask", "mask"))
            row = [images[i].float(), masks[i], pre, mask]
            previews.append(torch.stack([r.expand(3, -1, -1).cpu() for r in row]))
    model.train()
    totals = D.all_reduce_sum(sums).cpu()
    n = max(float(totals[4]), 1.0)
    stats = {k: float(totals[i] / n) for i, k in enumerate(("loss", "mae", "iou", "f"))}
    stats["images"] = float(totals[4])
    if not previews:
        return stats, None
    from torchvision.utils import make_grid

    return stats, make_grid(torch.cat(previews), nrow=4, padding=2, pad_value=1.0)
