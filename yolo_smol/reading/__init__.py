"""Chapter 8, inference: reading the house number in a photo, the part above detection.

``options`` (``ReadingOptions``: every choice the reader makes, checked once), ``looks``
(where the detector looks: the whole photo at a few sizes, zoomed windows, the second look's
crop), ``rules`` (one line, sure digits, no stray ends, merging looks), ``detector`` (the
``Detector``: the steps in order), ``report`` (``yolo-smol detect``: a folder read chunk by
chunk, annotated copies, ``readings.json``), ``scoring`` (a reader against the true
numbers). It builds on ``detection`` and ``model``; nothing below it imports it.
"""
