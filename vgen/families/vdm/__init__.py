"""VDM (Ho et al., 2022): a factorised space-time 3D UNet in pixel space."""
