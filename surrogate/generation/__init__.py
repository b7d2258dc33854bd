"""The generate stage's pipeline: sort order, chains of solves, worker processes, shards, the
dataset lock, progress, disk and memory checks. It writes through the file format (`data`)."""
