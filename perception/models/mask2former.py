"""Mask2Former head (Cheng et al., CVPR 2022) over the camera backbone's feature pyramid.

The head reads the pyramid {'res2': (B, C2, H/4, W/4), 'res3': /8, 'res4': /16, 'res5': /32}, whether the backbone
computed it (key frames) or it was warped along optical flow (other frames), and predicts per query a class (K
classes + "no object") and a mask at stride 4. Losses live in perception.models.panoptic_loss; panoptic and semantic
inference in perception.core.camera.panoptic.
"""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from perception.models.ms_deform_attn import MSDeformAttn

NORM_GROUPS = 32
ENCODED_LEVELS = ('res5', 'res4', 'res3')  # strides 32, 16, 8: coarsest first, the order the decoder cycles in


@dataclass(frozen=True)
class Mask2FormerConfig:
    num_classes: int  # K; the class head predicts K + 1 logits, the last one "no object"
    in_channels: tuple[int, int, int, int] = (32, 64, 128, 256)  # res2, res3, res4, res5
    hidden_dim: int = 64  # pixel decoder, mask features and queries
    num_queries: int = 50
    encoder_layers: int = 3  # deformable attention layers of the pixel decoder
    decoder_layers: int = 6  # masked-attention layers, cycling over strides 32, 16, 8
    heads: int = 4
    points: int = 4  # deformable sampling points per head and level
    ffn_dim: int = 256

    def __post_init__(self):
        if len(self.in_channels) != 4:
            raise ValueError(f'in_channels needs one entry per res2..res5, got {self.in_channels}')
        if self.hidden_dim % NORM_GROUPS or self.hidden_dim % self.heads:
            raise ValueError(f'hidden_dim {self.hidden_dim} must be divisible by {NORM_GROUPS} and by heads')


def pixel_centres(height: int, width: int, device: torch.device) -> torch.Tensor:
    """(H*W, 2) normalised (x, y) in (0, 1) of a map's pixel centres, row-major."""
    y = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
    x = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    grid_y, grid_x = torch.meshgrid(y, x, indexing='ij')
    return torch.stack([grid_x, grid_y], -1).view(-1, 2)


def sine_position_encoding(height: int, width: int, channels: int, device: torch.device) -> torch.Tensor:
    """(1, H*W, C) DETR's normalised sine encoding: C/2 channels encode y, the other C/2 encode x."""
    num_feats = channels // 2
    frequencies = 10000.0 ** (2 * (torch.arange(num_feats, device=device) // 2) / num_feats)
    angles = pixel_centres(height, width, device)[:, :, None] * (2 * math.pi) / frequencies  # (H*W, 2, C/2)
    encoding = torch.stack([angles[..., 0::2].sin(), angles[..., 1::2].cos()], -1).flatten(2)  # (H*W, 2, C/2)
    return torch.cat([encoding[:, 1], encoding[:, 0]], -1)[None]  # (1, H*W, C), y first


def conv_norm(in_channels: int, out_channels: int, kernel_size: int, relu: bool = False) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
              nn.GroupNorm(NORM_GROUPS, out_channels)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def feed_forward(dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim))


class DeformableEncoderLayer(nn.Module):
    """Deformable self-attention over all levels' tokens, then FFN (post-norm, as in Mask2Former)."""

    def __init__(self, config: Mask2FormerConfig):
        super().__init__()
        dim = config.hidden_dim
        self.attention = MSDeformAttn(dim, len(ENCODED_LEVELS), config.heads, config.points)
        self.attention_norm = nn.LayerNorm(dim)
        self.ffn = feed_forward(dim, config.ffn_dim)
        self.ffn_norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor, pos: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: list[tuple[int, int]]) -> torch.Tensor:
        """tokens (B, S, C); pos (1, S, C); reference_points (1, S, L, 2)."""
        tokens = self.attention_norm(tokens + self.attention(tokens + pos, reference_points, tokens, spatial_shapes))
        return self.ffn_norm(tokens + self.ffn(tokens))


class MSDeformAttnPixelDecoder(nn.Module):
    """Deformable encoder over strides 32/16/8, then an FPN step onto res2 giving the stride-4 mask features."""

    def __init__(self, config: Mask2FormerConfig):
        super().__init__()
        dim = config.hidden_dim
        res2_channels, *encoded_channels = config.in_channels
        self.input_proj = nn.ModuleList(conv_norm(c, dim, 1) for c in reversed(encoded_channels))  # res5 first
        self.level_embed = nn.Embedding(len(ENCODED_LEVELS), dim)
        self.encoder = nn.ModuleList(DeformableEncoderLayer(config) for _ in range(config.encoder_layers))
        self.lateral = conv_norm(res2_channels, dim, 1)
        self.output_conv = conv_norm(dim, dim, 3, relu=True)
        self.mask_features = nn.Conv2d(dim, dim, 1)

    def forward(self, pyramid: dict[str, torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Mask features (B, C, H/4, W/4) and the encoded maps [(B, C, H/32, W/32), (.., H/16, ..), (.., H/8, ..)]."""
        maps = [proj(pyramid[name]) for proj, name in zip(self.input_proj, ENCODED_LEVELS)]
        batch, dim = maps[0].shape[:2]
        shapes = [tuple(m.shape[-2:]) for m in maps]
        device = maps[0].device
        tokens = torch.cat([m.flatten(2).transpose(1, 2) for m in maps], 1)  # (B, C, h, w) -> (B, S, C)
        pos = torch.cat([sine_position_encoding(h, w, dim, device) + self.level_embed.weight[level]
                         for level, (h, w) in enumerate(shapes)], 1)  # (1, S, C)
        # Without padding every level's reference point is the token's own normalised position: (1, S, L, 2)
        reference = torch.cat([pixel_centres(h, w, device) for h, w in shapes])[None, :, None].expand(
            -1, -1, len(shapes), -1)
        for layer in self.encoder:
            tokens = layer(tokens, pos.to(tokens.dtype), reference.to(tokens.dtype), shapes)
        # (B, S, C) -> per level (B, h*w, C) -> (B, C, h, w)
        encoded = [t.transpose(1, 2).reshape(batch, dim, h, w)
                   for t, (h, w) in zip(tokens.split([h * w for h, w in shapes], 1), shapes)]
        res2 = self.lateral(pyramid['res2'])
        fine = res2 + F.interpolate(encoded[-1], size=res2.shape[-2:], mode='bilinear', align_corners=False)
        return self.mask_features(self.output_conv(fine)), encoded


class MaskedAttentionDecoderLayer(nn.Module):
    """Masked cross-attention to one level, self-attention among the queries, FFN (post-norm each)."""

    def __init__(self, config: Mask2FormerConfig):
        super().__init__()
        dim = config.hidden_dim
        self.cross_attention = nn.MultiheadAttention(dim, config.heads, batch_first=True)
        self.cross_norm = nn.LayerNorm(dim)
        self.self_attention = nn.MultiheadAttention(dim, config.heads, batch_first=True)
        self.self_norm = nn.LayerNorm(dim)
        self.ffn = feed_forward(dim, config.ffn_dim)
        self.ffn_norm = nn.LayerNorm(dim)

    def forward(self, queries: torch.Tensor, query_pos: torch.Tensor, memory: torch.Tensor, memory_pos: torch.Tensor,
                blocked: torch.Tensor) -> torch.Tensor:
        """queries (B, Q, C); query_pos (1, Q, C); memory (B, h*w, C); memory_pos (1, h*w, C);
        blocked (B*heads, Q, h*w) True where a query may not attend."""
        attended = self.cross_attention(queries + query_pos, memory + memory_pos, memory, attn_mask=blocked,
                                        need_weights=False)[0]
        queries = self.cross_norm(queries + attended)
        positioned = queries + query_pos
        queries = self.self_norm(queries + self.self_attention(positioned, positioned, queries, need_weights=False)[0])
        return self.ffn_norm(queries + self.ffn(queries))


class MultiScaleMaskedTransformerDecoder(nn.Module):
    """Learned queries refined layer by layer, each layer attending one level (coarsest first, cycling) only inside
    the mask the previous prediction drew; a class and mask prediction before the first layer and after each."""

    def __init__(self, config: Mask2FormerConfig):
        super().__init__()
        dim = config.hidden_dim
        self.heads = config.heads
        self.query_features = nn.Embedding(config.num_queries, dim)
        self.query_pos = nn.Embedding(config.num_queries, dim)
        self.level_embed = nn.Embedding(len(ENCODED_LEVELS), dim)
        self.layers = nn.ModuleList(MaskedAttentionDecoderLayer(config) for _ in range(config.decoder_layers))
        self.output_norm = nn.LayerNorm(dim)
        self.class_embed = nn.Linear(dim, config.num_classes + 1)
        self.mask_embed = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim),
                                        nn.ReLU(inplace=True), nn.Linear(dim, dim))

    def predict(self, queries: torch.Tensor, mask_features: torch.Tensor,
                attention_size: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Class logits (B, Q, K+1), mask logits (B, Q, H/4, W/4) and, for the next layer, the attention mask
        (B*heads, Q, h*w) at `attention_size`: True (blocked) where the mask probability is below 0.5."""
        queries = self.output_norm(queries)
        mask_logits = torch.einsum('bqc,bchw->bqhw', self.mask_embed(queries), mask_features)
        if attention_size is None:
            return self.class_embed(queries), mask_logits, None
        resized = F.interpolate(mask_logits.detach(), size=attention_size, mode='bilinear', align_corners=False)
        blocked = resized.flatten(2) < 0  # sigmoid < 0.5; (B, Q, h, w) -> (B, Q, h*w)
        blocked &= ~blocked.all(-1, keepdim=True)  # a query whose mask is empty attends everywhere, not nowhere
        return self.class_embed(queries), mask_logits, blocked.repeat_interleave(self.heads, 0)  # (B*heads, Q, h*w)

    def forward(self, encoded: list[torch.Tensor], mask_features: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """encoded: the pixel decoder's maps, coarsest first. Returns one prediction per layer + 1, the last final."""
        batch, dim = mask_features.shape[:2]
        memories, memory_pos, sizes = [], [], []
        for level, level_map in enumerate(encoded):
            h, w = level_map.shape[-2:]
            memories.append(level_map.flatten(2).transpose(1, 2) + self.level_embed.weight[level])  # (B, h*w, C)
            memory_pos.append(sine_position_encoding(h, w, dim, level_map.device).to(level_map.dtype))
            sizes.append((h, w))
        queries = self.query_features.weight[None].expand(batch, -1, -1)  # (B, Q, C)
        query_pos = self.query_pos.weight[None]  # (1, Q, C)
        class_logits, mask_logits, blocked = self.predict(queries, mask_features, sizes[0])
        predictions = [{'pred_logits': class_logits, 'pred_masks': mask_logits}]
        for index, layer in enumerate(self.layers):
            level = index % len(memories)
            queries = layer(queries, query_pos, memories[level], memory_pos[level], blocked)
            last = index == len(self.layers) - 1
            class_logits, mask_logits, blocked = self.predict(
                queries, mask_features, None if last else sizes[(index + 1) % len(sizes)])
            predictions.append({'pred_logits': class_logits, 'pred_masks': mask_logits})
        return predictions


class Mask2FormerHead(nn.Module):
    """Pixel decoder + masked-attention transformer decoder over a feature pyramid; returns logits only."""

    def __init__(self, config: Mask2FormerConfig):
        super().__init__()
        self.config = config
        self.pixel_decoder = MSDeformAttnPixelDecoder(config)
        self.transformer_decoder = MultiScaleMaskedTransformerDecoder(config)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, MSDeformAttn):
            module.reset_parameters()  # apply() visits children first, so this overrides their xavier init

    def forward(self, pyramid: dict[str, torch.Tensor]) -> dict:
        """pyramid: 'res2'..'res5' (B, C_l, H/s, W/s). Returns
        'pred_logits': (B, Q, K+1) class logits, the last class "no object";
        'pred_masks':  (B, Q, H/4, W/4) mask logits;
        'aux_outputs': [{'pred_logits', 'pred_masks'}] of the earlier decoder layers, for deep supervision."""
        mask_features, encoded = self.pixel_decoder(pyramid)
        *aux_outputs, final = self.transformer_decoder(encoded, mask_features)
        return {**final, 'aux_outputs': aux_outputs}
