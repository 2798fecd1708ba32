"""The level layout of the UNets built from interchangeable blocks (ADM/LDM ordering), shared by the factorised
space-time UNet (VDM, LVDM) and the inflatable UNet:

input conv; per level ``num_res_blocks`` × [ResBlock (+ attention)], a downsampling block between levels; middle
ResBlock, attention, ResBlock; decoder ``num_res_blocks + 1`` ResBlocks per level, each eating the skip of the matching
encoder block, an upsampling block at the end of every level but the top. Each network says what its blocks are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from vgen.errors import VgenError

Factory = Callable[[int], nn.Module]


@dataclass(frozen=True)
class LevelSpec:
    """What the layout needs: channels in and out, ``model_channels`` × ``channel_mult`` per level, ResBlocks per
    level, and the levels (0 = full resolution) whose ResBlocks are followed by attention."""

    in_channels: int
    out_channels: int
    model_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    attention_levels: tuple[int, ...]

    @property
    def spatial_factor(self) -> int:
        """How much the deepest level shrinks H and W."""
        return 2 ** (len(self.channel_mult) - 1)


class BlockSequence(nn.ModuleList):
    """One encoder/decoder entry: blocks run in order, each given the keyword context it names in its ``takes``
    (a ResBlock the embedding, a temporal layer the frame mask or count; resampling blocks nothing)."""

    def forward(self, x: torch.Tensor, **context: object) -> torch.Tensor:
        for block in self:
            x = block(x, *(context[name] for name in getattr(block, "takes", ())))
        return x


def build_levels(spec: LevelSpec, *, res: Callable[[int, int], nn.Module],
                 attention: Callable[[int], list[nn.Module]], down: Factory, up: Factory
                 ) -> tuple[nn.ModuleList, BlockSequence, nn.ModuleList, int]:
    """(encoder, middle, decoder, output channels) of the layout above: ``res(c_in, c_out)`` a ResBlock,
    ``attention(c)`` the attention layers after it, ``down(c)``/``up(c)`` the resampling blocks; each encoder and
    decoder entry is a :class:`BlockSequence`."""
    group = BlockSequence
    model_channels, channel_mult, num_res_blocks = spec.model_channels, spec.channel_mult, spec.num_res_blocks
    attention_levels = spec.attention_levels
    ch = model_channels
    skip_channels = [ch]
    last = len(channel_mult) - 1
    encoder = nn.ModuleList()
    for level, mult in enumerate(channel_mult):
        for _ in range(num_res_blocks):
            blocks = [res(ch, mult * model_channels)]
            ch = mult * model_channels
            if level in attention_levels:
                blocks += attention(ch)
            encoder.append(group(blocks))
            skip_channels.append(ch)
        if level != last:
            encoder.append(group([down(ch)]))
            skip_channels.append(ch)

    middle = group([res(ch, ch), *attention(ch), res(ch, ch)])

    decoder = nn.ModuleList()
    for level, mult in reversed(list(enumerate(channel_mult))):
        for i in range(num_res_blocks + 1):
            blocks = [res(ch + skip_channels.pop(), mult * model_channels)]
            ch = mult * model_channels
            if level in attention_levels:
                blocks += attention(ch)
            if level != 0 and i == num_res_blocks:
                blocks.append(up(ch))
            decoder.append(group(blocks))
    return encoder, middle, decoder, ch


def run_levels(encoder: nn.ModuleList, middle: nn.Module, decoder: nn.ModuleList, h: torch.Tensor,
               run: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The input conv's output ``h`` through encoder, middle and decoder (skips concatenated on channels);
    ``run(block, h)`` runs one entry."""
    skips = [h]
    for block in encoder:
        h = run(block, h)
        skips.append(h)
    h = run(middle, h)
    for block in decoder:
        h = run(block, torch.cat([h, skips.pop()], dim=1))
    return h


def check_frame_size(height: int, width: int, factor: int) -> None:
    """Frames must halve ``log2(factor)`` times: one line naming the fix otherwise."""
    if height % factor or width % factor:
        raise VgenError(f"frame size {height}x{width} is not divisible by {factor}; "
                        f"use a resolution that is a multiple of {factor}")
