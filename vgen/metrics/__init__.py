"""Video-generation metrics: I3D features for FVD/KVD, C3D Inception Score, PSNR/SSIM.

Submodules import torch; import them directly (``vgen.metrics.i3d``, ``vgen.metrics.distances``...).
"""
