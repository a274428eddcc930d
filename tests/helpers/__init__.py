# Copyright (c) apa_mmdet contributors.
"""What only the tests need: independent references of the official
SE-ResNet, Swin and CARAFE, and the configs' paths
(``tests.helpers.<module>``). What the benchmarks share with the tests is
in ``apa_mmdet.testing``."""
