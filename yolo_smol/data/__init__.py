"""Chapter 1, data: house-number images and their boxes, from source to training batches.

``schema`` (the SVHN ``full_numbers`` features), ``sources`` (``--dataset``: synthetic, the
hub, a local path), ``synthetic`` (the generated house numbers), ``prepare`` (decode, check
and resize once; batches), ``augment`` (colour, zoom and shift on batches), ``statistics``
(box statistics beside SVHN's published figures).
"""
