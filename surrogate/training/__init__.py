"""Training: the LightningModule, losses, loggers and the train stage."""
