"""Chapters 5 and 7, loss and NMS/mAP: from raw maps to targets, losses, boxes and scores.

``decode`` (the paper's encoding and its inverse), ``assign`` (which prediction learns which
digit), ``loss``, ``postprocess`` (scores, thresholds, NMS over a batch), ``nms`` (written
out, and batched), ``metrics`` (COCO-style mAP, whole-number accuracy, confusion matrix).
Nothing here imports the model: these functions take its raw outputs.
"""
