"""LVDM (He et al., 2022): a 3D-conv video autoencoder and a latent 3D UNet, hierarchical long video."""
