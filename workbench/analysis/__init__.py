"""Looking inside a trained model: interpretation (confusion, top losses), Grad-CAM, calibration of its confidence."""
