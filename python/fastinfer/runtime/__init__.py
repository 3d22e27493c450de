"""What runs models: backends, the cache of derived files, INT8 quantization."""
