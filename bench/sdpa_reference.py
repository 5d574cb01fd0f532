#!/usr/bin/env python3
"""PyTorch scaled_dot_product_attention with the flash and cuDNN backends, on the shapes
bench_attention_cuda measures (B, H, s, d, bf16; causal and not). TFLOP/s with FLOPs = 4*B*H*s^2*d,
halved for causal; warm-up plus timed iterations, median (CUDA events). Prints a table and `csv,` lines.
Needs PyTorch with CUDA (the GPU machine only)."""
import argparse
import statistics
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seq", default="4096,8192,16384,32768")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16"])
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    a = ap.parse_args()
    try:
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError as e:
        print(f"sdpa_reference: PyTorch not available ({e}); nothing measured")
        return 0
    if not torch.cuda.is_available():
        print("sdpa_reference: no CUDA device visible to PyTorch; nothing measured")
        return 0
    dt = torch.bfloat16 if a.dtype == "bf16" else torch.float16
    backends = [("flash", SDPBackend.FLASH_ATTENTION)]
    if hasattr(SDPBackend, "CUDNN_ATTENTION"):
        backends.append(("cudnn", SDPBackend.CUDNN_ATTENTION))
    dev = torch.cuda.get_device_name()
    print(f"{'backend':>8} {'seq':>7} {'causal':>6} {'median ms':>11} {'TFLOP/s':>9}")
    for causal in (False, True):
        for s in [int(x) for x in a.seq.split(",")]:
            q, k, v = (torch.randn(a.batch, a.heads, s, a.head_dim, device="cuda", dtype=dt) for _ in range(3))
            flops = 4.0 * a.batch * a.heads * s * s * a.head_dim * (0.5 if causal else 1.0)
            for name, be in backends:
                try:
                    with sdpa_kernel(be):
                        for _ in range(a.warmup):
                            torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
                        torch.cuda.synchronize()
                        times = []
                        for _ in range(a.iters):
                            s0, s1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                            s0.record()
                            torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
                            s1.record()
                            s1.synchronize()
                            times.append(s0.elapsed_time(s1))
                except RuntimeError as e:  # backend not available for this shape/GPU
                    print(f"{name:>8} {s:>7} {('yes' if causal else 'no'):>6} unavailable: {str(e).splitlines()[0][:80]}")
                    continue
                med = statistics.median(times)
                tf = flops / (med * 1e-3) / 1e12
                print(f"{name:>8} {s:>7} {('yes' if causal else 'no'):>6} {med:>11.3f} {tf:>9.1f}")
                print(f"csv,{name},{a.dtype},{a.batch},{a.heads},{a.head_dim},{s},{int(causal)},sdpa,{med:.6f},{tf:.2f}")
            del q, k, v
    print(f"device: {dev}; torch {torch.__version__}; {a.warmup} warm-up + {a.iters} timed iterations, median")
    return 0


if __name__ == "__main__":
    sys.exit(main())
