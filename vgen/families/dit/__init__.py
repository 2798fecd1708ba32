"""DiT family (GenTron, W.A.L.T., Latte): a latent video transformer over a causal 3D autoencoder."""
