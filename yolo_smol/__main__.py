"""``python -m yolo_smol`` is the same as the ``yolo-smol`` command."""

import sys

from yolo_smol.cli import main

sys.exit(main())
