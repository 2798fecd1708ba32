"""vgen: video generation with latent diffusion models (PVDM, VDM, LVDM).

Importing this package is cheap: it pulls in no torch, so ``vgen --help`` stays fast.
"""

__version__ = "0.1.0"
