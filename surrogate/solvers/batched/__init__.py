"""Batched solvers in torch (`backend=torch`): B systems solved at once, each lane to its own
tolerance. Imported only by the batched families, so that numpy runs never import torch."""
