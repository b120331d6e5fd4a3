"""A lean decode step for Llama-family models on CPU: preallocated KV buffers and fused projections.

After the prefill, the hf engine's decode loop spends its time on Python and dispatch overhead, not arithmetic:
a transformers forward runs ~60 small ops and module calls per layer, and `DynamicCache` concatenates the whole
cache every token. For the architectures whose decoder layer is exactly

    x += o(attn(rope(qk_norm(q(n1(x)))), rope(qk_norm(k(n1(x)))), v(n1(x))));  x += down(silu(gate(n2(x))) · up(n2(x)))

(llama, qwen2, qwen3 with default RoPE), `StaticDecoder` runs one token per row with fused q/k/v and gate/up
weights and writes K/V into buffers sized for the whole generation: ~25 ops per layer and no cache copies.
The prefill stays with transformers; the logits equal its decode step's (tests/rollout/test_static_decode.py).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import DynamicCache, PreTrainedModel

STATIC_DECODE_MODELS = ("llama", "qwen2", "qwen3")


def supports_static_decode(model: PreTrainedModel) -> bool:
    """True for a CPU model whose layers `StaticDecoder` reproduces exactly (see the module docstring)."""
    cfg = model.config
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    layer_types = getattr(cfg, "layer_types", None) or ["full_attention"]
    return (model.device.type == "cpu" and cfg.model_type in STATIC_DECODE_MODELS
            and rope.get("rope_type", rope.get("type", "default")) == "default" and cfg.hidden_act == "silu"
            and not getattr(cfg, "mlp_bias", False) and set(layer_types) == {"full_attention"}
            and not getattr(cfg, "use_sliding_window", False))


@dataclass
class KVBuffers:
    """K/V of a decoding batch, preallocated to the prompt width + max_new_tokens.

    Shape: keys[l], values[l] (B, H_kv, W + N, D); bias (B, W + N): 0 where a row attends, −inf on its left
    padding; `length` columns are filled.
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    bias: torch.Tensor
    length: int

    def select(self, rows: torch.Tensor) -> None:
        """Keep only `rows` (finished rows leave the batch)."""
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]
        self.bias = self.bias[rows]


class StaticDecoder:
    """Decode steps for `model` (see `supports_static_decode`); `refresh()` after its weights change."""

    def __init__(self, model: PreTrainedModel):
        if not supports_static_decode(model):
            raise ValueError(f"StaticDecoder does not support {model.config.model_type!r} models "
                             f"(supported on CPU with default RoPE: {list(STATIC_DECODE_MODELS)})")
        cfg = model.config
        self.model = model
        self.heads, self.kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.intermediate = cfg.intermediate_size
        self.eps = cfg.rms_norm_eps
        self.scaling = model.model.layers[0].self_attn.scaling
        self.refresh()

    @torch.no_grad()
    def refresh(self) -> None:
        """Rebuild the fused weights from the model's current parameters."""
        inner = self.model.model
        self.layers = []
        for layer in inner.layers:
            attn, mlp = layer.self_attn, layer.mlp
            projections = (attn.q_proj, attn.k_proj, attn.v_proj)
            self.layers.append({
                "norm_in": layer.input_layernorm.weight,
                "norm_post": layer.post_attention_layernorm.weight,
                "qkv": torch.cat([p.weight for p in projections]),
                "qkv_bias": torch.cat([p.bias for p in projections]) if attn.q_proj.bias is not None else None,
                "q_norm": attn.q_norm.weight if hasattr(attn, "q_norm") else None,
                "k_norm": attn.k_norm.weight if hasattr(attn, "k_norm") else None,
                "o": attn.o_proj.weight,
                "o_bias": attn.o_proj.bias,
                "gate_up": torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]),
                "down": mlp.down_proj.weight,
            })
        self.embed = inner.embed_tokens.weight
        self.norm = inner.norm.weight
        self.lm_head = self.model.lm_head.weight
        self.inv_freq = inner.rotary_emb.inv_freq.float()
        self.rope_scale = float(inner.rotary_emb.attention_scaling)

    def start(self, cache: DynamicCache, mask: torch.Tensor, max_new_tokens: int) -> KVBuffers:
        """Buffers holding the prefill's cache. Shape: mask (B, W) 1 on prompt tokens, 0 on left padding."""
        batch, width = mask.shape
        keys, values = [], []
        for layer in cache.layers:
            for source, target in ((layer.keys, keys), (layer.values, values)):
                buffer = source.new_zeros(batch, self.kv_heads, width + max_new_tokens, self.head_dim)
                buffer[:, :, :width] = source
                target.append(buffer)
        return KVBuffers(keys, values, padding_bias(mask, max_new_tokens, keys[0].dtype), width)

    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # As transformers' RMSNorm: normalise in float32, cast back, then scale.
        return F.rms_norm(x.float(), (x.shape[-1],), None, self.eps).to(x.dtype) * weight

    @torch.inference_mode()
    def step(self, kv: KVBuffers, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Logits of the next token for each row after feeding `tokens` at `positions`, and their K/V into `kv`.

        Shape: tokens (B,), positions (B,) → (B, V).
        """
        batch, column = tokens.shape[0], kv.length
        h, h_kv, d = self.heads, self.kv_heads, self.head_dim
        x = self.embed[tokens]
        freqs = positions[:, None].float() * self.inv_freq[None]
        angles = torch.cat((freqs, freqs), dim=-1)
        cos = (angles.cos() * self.rope_scale).to(x.dtype)[:, None]  # (B, 1, D): the same for every head
        sin = (angles.sin() * self.rope_scale).to(x.dtype)[:, None]
        bias = kv.bias[:, None, None, : column + 1]  # (B, 1, 1, L)
        for layer, keys, values in zip(self.layers, kv.keys, kv.values):
            qkv = F.linear(self._rms(x, layer["norm_in"]), layer["qkv"], layer["qkv_bias"])
            q = qkv[:, : h * d].view(batch, h, d)
            k = qkv[:, h * d : (h + h_kv) * d].view(batch, h_kv, d)
            if layer["q_norm"] is not None:
                q, k = self._rms(q, layer["q_norm"]), self._rms(k, layer["k_norm"])
            keys[:, :, column] = _rope(k, cos, sin)
            values[:, :, column] = qkv[:, (h + h_kv) * d :].view(batch, h_kv, d)
            # The query heads sharing a KV head attend together: (B, H_kv, H/H_kv, D) · (B, H_kv, D, L).
            q = _rope(q, cos, sin).view(batch, h_kv, h // h_kv, d)
            scores = q @ keys[:, :, : column + 1].transpose(-1, -2) * self.scaling + bias
            attn = torch.softmax(scores.float(), dim=-1).to(x.dtype) @ values[:, :, : column + 1]
            x = x + F.linear(attn.reshape(batch, h * d), layer["o"], layer["o_bias"])
            gate, up = F.linear(self._rms(x, layer["norm_post"]), layer["gate_up"]).split(self.intermediate, -1)
            x = x + F.linear(F.silu(gate) * up, layer["down"])
        kv.length = column + 1
        return F.linear(self._rms(x, self.norm), self.lm_head)


def padding_bias(mask: torch.Tensor, max_new_tokens: int, dtype: torch.dtype) -> torch.Tensor:
    """`KVBuffers.bias` for a prefill's mask. Shape: mask (B, W) 1 on prompt tokens, 0 on padding → (B, W + N)."""
    bias = torch.zeros(mask.shape[0], mask.shape[1] + max_new_tokens, dtype=dtype, device=mask.device)
    bias[:, : mask.shape[1]].masked_fill_(mask == 0, float("-inf"))
    return bias


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding as transformers applies it (rotate_half). Shape: x (B, H, D), cos/sin (B, 1, D)."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-second, first), dim=-1) * sin
