"""Chapter 6, training: the loop and what it writes.

``loop`` (training, checkpoints, resume), ``schedule`` (warm-up and cosine), ``ema`` (the
moving average of the weights), ``evaluate`` (a model over a dataset, scored),
``model_card`` (the card beside shipped weights).
"""
