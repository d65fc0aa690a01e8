"""Training, fine-tuning and inference."""
