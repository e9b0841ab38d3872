# PyTorch-eager peer of the runtime's sampling and scoring, at the embedded default's shapes: a Llama (RMSNorm, RoPE,
# SwiGLU, tied head; 3 layers, d_model 128, 4 heads, FFN 384, vocab 259) with a KV cache.
# Sampling: batch 64, a 16-token prompt, 32 new tokens per row (no stop token), temperature 0.7, top-p 0.9.
# Scoring: 64 sequences of 64 tokens, summed log-probs of the last 32; with k > 1 each run of k rows shares its first
# 32 tokens (a prompt's K sampled responses), which eager PyTorch scores like any other rows.
# Each figure is the median of `repeats` timed runs after one warm-up run; the JSON names are those of
# `./dice bench runtime` (`decode_tokens_per_s_kv`, `score_sequences_per_s`), so the two can be read side by side.
# Run (Debian's torch: apt-get install python3-torch libopenblas0-pthread):
#   OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/peer/peer_generate.py [threads=1] [repeats=5] [k=1]
import json, math, sys, time
import torch, torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
K = int(sys.argv[3]) if len(sys.argv) > 3 else 1
V, D, H, L, FF, CTX = 259, 128, 4, 3, 384, 96
HD = D // H
torch.manual_seed(0)
g = lambda *s: torch.randn(*s) * 0.05
W = {"emb": g(V, D), "norm": torch.ones(D),
     "layers": [dict(ln1=torch.ones(D), ln2=torch.ones(D), q=g(D, D), k=g(D, D), v=g(D, D), o=g(D, D),
                     gate=g(FF, D), up=g(FF, D), down=g(D, FF)) for _ in range(L)]}
inv = 1.0 / (10000 ** (torch.arange(0, HD, 2).float() / HD))
ang = torch.outer(torch.arange(CTX).float(), inv)
COS, SIN = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)

def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w

def rope(x, pos):  # x: [B, H, T, HD]
    c, s = COS[pos], SIN[pos]
    x1, x2 = x[..., : HD // 2], x[..., HD // 2:]
    return x * c + torch.cat([-x2, x1], -1) * s

def forward(ids, pos0, cache):
    B, T = ids.shape
    pos = torch.arange(pos0, pos0 + T)
    x = F.embedding(ids, W["emb"])
    for i, lw in enumerate(W["layers"]):
        h = rms(x, lw["ln1"])
        q = rope((h @ lw["q"].T).view(B, T, H, HD).transpose(1, 2), pos)
        k = rope((h @ lw["k"].T).view(B, T, H, HD).transpose(1, 2), pos)
        v = (h @ lw["v"].T).view(B, T, H, HD).transpose(1, 2)
        if cache is not None:
            if i in cache:
                k = torch.cat([cache[i][0], k], 2); v = torch.cat([cache[i][1], v], 2)
            cache[i] = (k, v)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(HD)
        S = k.shape[2]
        mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        x = x + ((att @ v).transpose(1, 2).reshape(B, T, D)) @ lw["o"].T
        h = rms(x, lw["ln2"])
        x = x + (F.silu(h @ lw["gate"].T) * (h @ lw["up"].T)) @ lw["down"].T
    return rms(x, W["norm"]) @ W["emb"].T

def sample(logits, temp=0.7, top_p=0.9):
    probs = (logits / temp).softmax(-1)
    sp, si = probs.sort(-1, descending=True)
    keep = sp.cumsum(-1) - sp < top_p
    sp = sp * keep
    choice = torch.multinomial(sp / sp.sum(-1, keepdim=True), 1)
    return si.gather(-1, choice)

@torch.no_grad()
def generate(batch=64, prompt=16, new=32):
    ids = torch.randint(3, V, (batch, prompt))
    cache = {}
    logits = forward(ids, 0, cache)[:, -1]
    for t in range(new):
        nxt = sample(logits)
        if t == new - 1:
            break
        logits = forward(nxt, prompt + t, cache)[:, -1]
    return batch * new

@torch.no_grad()
def score(batch=64, length=64, response=32):
    ids = torch.randint(3, V, (batch, length))
    ids[:, :length - response] = ids[::K, :length - response].repeat_interleave(K, 0)
    lp = F.log_softmax(forward(ids[:, :-1], 0, None), -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return lp[:, -response:].sum(-1).shape[0]

def rate(fn):
    fn()  # warm-up
    best = []
    for _ in range(REPEATS):
        t0 = time.perf_counter(); n = fn(); best.append(n / (time.perf_counter() - t0))
    best.sort()
    return best[len(best) // 2]

print(json.dumps({"peer": "pytorch-eager", "torch": torch.__version__, "threads": torch.get_num_threads(),
                  "decode_tokens_per_s_kv": round(rate(generate), 1),
                  "score_sequences_per_s": round(rate(score), 1)}))
