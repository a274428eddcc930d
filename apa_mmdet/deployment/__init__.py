# Copyright (c) apa_mmdet contributors.
"""Export of APA detectors' exportable parts to ONNX (torch's exporter) and
their check in onnxruntime."""
from .onnx_export import (PARTS, BBoxScores, DetectorFeatures, check_input,
                          export_onnx, exportable_part, image_dynamic_shapes,
                          onnx_session, run_onnx, verify,
                          worst_relative_error)

__all__ = [
    'PARTS', 'BBoxScores', 'DetectorFeatures', 'check_input', 'export_onnx',
    'exportable_part', 'image_dynamic_shapes', 'onnx_session', 'run_onnx',
    'verify',
    'worst_relative_error'
]
