"""Training data: manifests, the synthetic labeled corpus, real and natural voices, augmentation toward real rooms."""
