"""Inflated image models (Make-A-Video, Align your Latents): a 2D image UNet trained first, then temporal layers."""
