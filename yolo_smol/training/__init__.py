"""Chapter 6, training: the loop and what it writes.

``settings`` (every training setting, checked once), ``splits`` (train, validation to
choose best.pt on, test scored once), ``loop`` (training, resume, fine-tuning), ``state``
(what last.pt keeps), ``run_log`` (scores, the log and checkpoints as a run goes),
``run_folder`` (one run per folder), ``schedule`` (warm-up and cosine), ``ema`` (the moving
average of the weights), ``evaluate`` (a model over a dataset, scored), ``model_card`` (the
card beside shipped weights).
"""
