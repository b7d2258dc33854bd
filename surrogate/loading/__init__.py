"""Loading datasets for training: the DataModule, time windows, epoch shuffling, normalisers."""
