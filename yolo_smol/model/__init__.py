"""Chapters 3 and 4, backbone and heads: the network and what is measured on it.

``backbone`` (Downsample, ResidualBlock), ``head`` (a YOLOv3 head and the upsampling path),
``yolo`` (YoloSmol: backbone + heads), ``checkpoint`` (weights saved with their config),
``summary`` (layer table, parameters, MACs), ``receptive_field``.
"""
