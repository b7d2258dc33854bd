"""Dataset files: HDF5 schema, the resumable writer, lazy readers, normalisers, the DataModule."""
