"""Spatial super-resolution (Imagen Video SSR, Make-A-Video SR): a pixel-space video diffusion model at resolution R
conditioned on the video at R/scale, with noise conditioning augmentation."""
