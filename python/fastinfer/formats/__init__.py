"""Model file formats: reading ONNX files, Darknet files, and what a detector's outputs mean (heads, SSD)."""
