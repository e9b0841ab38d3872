# PyTorch-eager peer of our DPO step: `./dice bench runtime --peer` runs it in alternation with our own step at the
# same shapes and reports the ratio of the two step times (docs/benchmarks.md).
# Measures the mean wall time of one DPO step over `steps` steps, after 5 warm-up steps: a policy forward with
# autograd and a frozen reference forward on the same 2·pairs sequences, the sigmoid DPO loss (β 0.1), backward and an
# AdamW step. Model: a 2-layer pre-LN causal transformer (d_model 128, 4 heads, GELU FFN 512, vocab 260, learned
# positions); data: random tokens, each pair a shared 32-token prompt and two responses, rows of 64 positions.
# Run (Debian's torch: apt-get install python3-torch libopenblas0-pthread):
#   OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/peer/peer_dpo_step.py [pairs=32] [threads=1] [steps=50]
# Prints the parameter count first and `... ms/step=...` on its last line (the figure `./dice bench` reads).
import sys, time, copy, torch, torch.nn as nn, torch.nn.functional as F
PAIRS = int(sys.argv[1]) if len(sys.argv) > 1 else 32
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
STEPS = int(sys.argv[3]) if len(sys.argv) > 3 else 50
V, D, H, L, T, PROMPT, BETA = 260, 128, 4, 2, 64, 32, 0.1
torch.manual_seed(0)

class LM(nn.Module):
    def __init__(s):
        super().__init__()
        s.tok, s.pos = nn.Embedding(V, D), nn.Embedding(T, D)
        layer = nn.TransformerEncoderLayer(D, H, 4 * D, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        s.blocks = nn.TransformerEncoder(layer, L)
        s.ln, s.head = nn.LayerNorm(D), nn.Linear(D, V, bias=False)
        s.register_buffer("mask", torch.triu(torch.full((T, T), float("-inf")), 1))
    def forward(s, x):
        h = s.tok(x) + s.pos(torch.arange(x.shape[1]))
        return s.head(s.ln(s.blocks(h, mask=s.mask)))

def seq_logp(model, x):  # summed log p of response tokens (positions PROMPT..T-1)
    lp = F.log_softmax(model(x[:, :-1]), -1).gather(-1, x[:, 1:, None]).squeeze(-1)
    return lp[:, PROMPT - 1:].sum(-1)

policy = LM(); ref = copy.deepcopy(policy).eval().requires_grad_(False)
opt = torch.optim.AdamW(policy.parameters(), lr=1e-4)
print("params", sum(p.numel() for p in policy.parameters()), "threads", torch.get_num_threads(),
      "torch", torch.__version__)
prompt = torch.randint(0, V, (PAIRS, PROMPT))
chosen = torch.cat([prompt, torch.randint(0, V, (PAIRS, T - PROMPT + 1))], 1)   # T+1 tokens
rejected = torch.cat([prompt, torch.randint(0, V, (PAIRS, T - PROMPT + 1))], 1)
both = torch.cat([chosen, rejected])  # 2*PAIRS sequences in one forward

def step():
    with torch.no_grad():
        r = seq_logp(ref, both)
    p = seq_logp(policy, both)
    margin = BETA * ((p[:PAIRS] - r[:PAIRS]) - (p[PAIRS:] - r[PAIRS:]))
    loss = -F.logsigmoid(margin).mean()
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    return loss.item()

for _ in range(5): step()  # warm-up
t0 = time.perf_counter()
for i in range(STEPS): loss = step()
dt = time.perf_counter() - t0
print(f"pairs={PAIRS} seqs/step={2*PAIRS} steps={STEPS} time={dt:.3f}s "
      f"steps/s={STEPS/dt:.2f} ms/step={1000*dt/STEPS:.1f} final_loss={loss:.4f}")
