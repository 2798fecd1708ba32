"""FI (Make-A-Video's frame interpolation network ↑F): a masked frame interpolation / extrapolation UNet in pixel
space, conditioned on the frame skip, diffusing the residual from frame blending; also temporal super-resolution."""
