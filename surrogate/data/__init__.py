"""The dataset file format: HDF5 schema, the resumable writer, lazy readers, content digests,
integrity checks, and importers of other tools' formats (`formats/`)."""
