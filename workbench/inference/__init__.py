"""Using a trained model: predict, export with parity checks, test-time augmentation, sending the unsure predictions to labelling."""
