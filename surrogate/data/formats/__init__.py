"""Readers of other tools' dataset files (neuraloperator, PDEBench, The Well) for `surrogate import`."""
