"""Getting images in: files and arrays (``images``); videos, cameras, folders and the pipeline (``stream``)."""
