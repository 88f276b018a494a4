"""Deployment formats of a trained tracker: ONNX (`tracktune export onnx`, `export/onnx.py`),
and the onnxruntime backend that tracks with an exported model through the same pipeline."""
