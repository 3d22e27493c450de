"""Tools around the models: ``info`` (costs), ``export`` (PyTorch -> ONNX), ``bench`` (timings), ``doctor``."""
