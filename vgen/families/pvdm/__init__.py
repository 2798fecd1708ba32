"""PVDM (Yu et al., CVPR 2023): a video projected onto three 2D latent planes and a 2D UNet over them."""
