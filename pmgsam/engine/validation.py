"""One validation pass during training: loss, MAE, IoU and Fβ, and a preview grid.

Each rank scores its shard of the validation split; the sums are all-reduced, so every rank
returns the means over the whole split.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

import torch
from torch.utils.data import DataLoader

from pmgsam.data import resized_hw
from pmgsam.engine import distributed as D
from pmgsam.engine.losses import SegmentationLoss, check_target_range
from pmgsam.engine.performance import to_memory_format
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.evaluation.dis_metrics import F_BETA2
from pmgsam.utils.loaders import loader_batches


def monitor_metrics(
    mask_logits: torch.Tensor, target: torch.Tensor, orig_sizes: Union[torch.Tensor, list]
) -> Dict[str, torch.Tensor]:
    """Sums over the batch of per-image MAE, IoU and Fβ (β²=0.3) at threshold 0.5.

    Measured on the valid (un-padded) region at network resolution: a cheap progress signal
    for training, not the benchmark protocol of :mod:`pmgsam.evaluation`. An image whose
    prediction and GT are both empty scores IoU = F = 1. The sums are 0-dim tensors on the
    logits' device, computed for the whole batch at once, so validation reads nothing back
    per batch.
    """
    size = mask_logits.shape[-1]
    batch = mask_logits.shape[0]
    probs = torch.sigmoid(mask_logits.detach().float()).reshape(batch, -1, size, size)
    gt = target.float().reshape(batch, -1, size, size)
    # orig_sizes come from the CPU batch: reading them costs no device synchronisation.
    hw = [resized_hw(int(h), int(w), size) for h, w in torch.as_tensor(orig_sizes).tolist()]
    device = probs.device
    # Built on the host and sent without waiting: torch.tensor(..., device=cuda) would wait for
    # the queued forward pass (a blocking copy synchronises the stream).
    sizes = torch.tensor(hw).to(device, non_blocking=True)
    heights, widths = (sizes[:, i].view(batch, 1, 1, 1) for i in (0, 1))
    coords = torch.arange(size, device=device)
    valid = (coords.view(1, 1, size, 1) < heights) & (coords.view(1, 1, 1, size) < widths)
    dims = (1, 2, 3)
    area = (heights * widths).view(batch).float() * probs.shape[1]
    mae = ((probs - gt).abs() * valid).sum(dims) / area
    pred, truth = (probs > 0.5) & valid, (gt > 0.5) & valid
    tp = (pred & truth).sum(dims).float()
    n_pred, n_true = pred.sum(dims).float(), truth.sum(dims).float()
    union = n_pred + n_true - tp
    one, zero = torch.ones_like(tp), torch.zeros_like(tp)
    iou = torch.where(union > 0, tp / union.clamp_min(1), one)
    precision = torch.where(n_pred > 0, tp / n_pred.clamp_min(1), zero)
    recall = torch.where(n_true > 0, tp / n_true.clamp_min(1), zero)
    denom = F_BETA2 * precision + recall
    f = torch.where(denom > 0, (1 + F_BETA2) * precision * recall / denom.clamp_min(1e-12), zero)
    f = torch.where((n_pred == 0) & (n_true == 0), one, f)
    return {"mae": mae.sum(), "iou": iou.sum(), "f": f.sum()}


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
    ``loss`` is the training loss, over the whole padded S×S input as training computes it;
    ``mae``, ``iou`` and ``f`` cover the image's own region (without the padding).
    """
    model.eval()
    # loss, mae, iou, f, images: accumulated on the device, read once after the loop.
    sums = torch.zeros(5, dtype=torch.float64, device=device)
    previews: List[torch.Tensor] = []
    with loader_batches(loader) as batches:
        for batch in batches:
            images = to_memory_format(batch["image"].to(device, non_blocking=True), perf)
            check_target_range(batch["mask"], "the validation batch's 'mask'")  # on the host
            masks = batch["mask"].to(device, non_blocking=True)
            with D.autocast(device, amp_dtype):
                outputs = model(images)
            loss, _ = loss_fn(outputs, masks)
            n = images.shape[0]
            m = monitor_metrics(outputs["mask"], masks, batch["orig_size"])
            parts = [loss.detach() * n, m["mae"], m["iou"], m["f"], torch.full_like(loss, n)]
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
