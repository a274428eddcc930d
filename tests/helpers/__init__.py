# Copyright (c) apa_mmdet contributors.
"""What the tests and the benchmarks share: independent references of the
official model, ground-truth predictions, the saved-memory counter and the
ahead-of-time Triton compiler (``tests.helpers.<module>``)."""
