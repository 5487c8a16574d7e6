#!/usr/bin/python3
"""Summarise a `make bench` run (bench/out/*.json) as Markdown tables.

Speed: the median epoch time of each run (ours and the peer's, alternating), the
median over runs, their ratio, peak memory. Quality: our test metrics at each
evaluated epoch (mean over seeds) beside the peer's published figures. Same network:
the peer's metrics of our exported model against our own, with the difference.
Exit status 1 when the same-network check is off by more than 1e-3.
"""
import glob
import json
import os
import statistics
import sys

out, seed = sys.argv[1], sys.argv[2]


def load(pattern):
    return [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, pattern)))]


# Peer figures (bench/README of the peer, means over seeds 1-3) for the same epochs.
PEER_QUALITY = {10: (0.488, 0.261), 20: (0.553, 0.304), 30: (0.568, 0.328),
                50: (0.622, 0.370), 70: (0.690, 0.431), 100: (0.703, 0.450)}

ours = load("speed_ours_*.json")
peer = load("speed_peer_*.json")
sg2 = json.load(open(os.path.join(out, "sgemm_2.json")))
machine = open(os.path.join(out, "machine.txt")).read().strip().replace("\n", "; ")


def run_median(d):
    # the first epoch includes warm-up for both; keep it out when there are others
    secs = [e["seconds"] for e in d["epochs"]]
    return statistics.median(secs[1:] if len(secs) > 1 else secs)


o_ep = [run_median(d) for d in ours]
p_ep = [run_median(d) for d in peer]
o_med, p_med = statistics.median(o_ep), statistics.median(p_ep)
o_rss = max(d["peak_rss_mib"] for d in ours)
p_rss = max(d["peak_rss_mib"] for d in peer)
gflop = statistics.median(e["gemm_gflop"] for d in ours for e in d["epochs"])
print(f"## Speed ({machine})\n")
print("| | epoch (median of runs) | runs | peak RSS |")
print("|---|---|---|---|")
print(f"| fedrecall | {o_med:.3f} s | {', '.join(f'{x:.3f}' for x in o_ep)} | {o_rss:.0f} MiB |")
print(f"| peer (PyTorch) | {p_med:.3f} s | {', '.join(f'{x:.3f}' for x in p_ep)} | {p_rss:.0f} MiB |")
print(f"\nratio fedrecall / peer: **{o_med / p_med:.2f}x** epoch time, "
      f"{o_rss / p_rss:.2f}x peak memory\n")
rate = sg2["square_1024"]
print(f"Matrix products per epoch: {gflop:.1f} GFLOP; at this machine's sgemm rate "
      f"({rate:.0f} GFLOP/s, 1024^3, 2 threads) they need {gflop / rate:.3f} s, "
      f"{100 * gflop / rate / o_med:.0f}% of the measured epoch "
      f"(the model's own shapes run at "
      f"{min(sg2['gru_input_6400x192x64'], sg2['logits_6400x128x64']):.0f}-"
      f"{max(sg2['gru_input_6400x192x64'], sg2['logits_6400x128x64']):.0f} GFLOP/s, "
      f"per-step GRU products at {sg2['gru_step_64x192x64']:.0f}).\n")

q = load("quality_ours_s*.json")
print(f"## Quality (test, mean over {len(q)} seeds)\n")
print("| epochs | HR@10 | NDCG@10 | peer HR@10 | peer NDCG@10 | Recall@10 | Recall@50 | MRR |")
print("|---|---|---|---|---|---|---|---|")
epochs = sorted({e["epoch"] for d in q for e in d["evals"]})
for ep in epochs:
    rows = [e["test"] for d in q for e in d["evals"] if e["epoch"] == ep]
    mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0] if isinstance(rows[0][k], float)}
    ph, pn = PEER_QUALITY.get(ep, (None, None))
    pf = lambda x: f"{x:.3f}" if x is not None else "-"
    print(f"| {ep} | {mean['hr@10']:.3f} | {mean['ndcg@10']:.3f} | {pf(ph)} | {pf(pn)} | "
          f"{mean['recall@10']:.3f} | {mean['recall@50']:.3f} | {mean['mrr']:.3f} |")

own = json.load(open(os.path.join(out, f"quality_ours_s{seed}.json")))["test"]
pe = json.load(open(os.path.join(out, f"peer_eval_s{seed}.json")))["test"]
print(f"\n## Same network (seed {seed}): the peer evaluates our exported weights\n")
print("| metric | fedrecall | peer on our weights | difference |")
print("|---|---|---|---|")
worst = 0.0
for k in ("recall@10", "ndcg_full@10", "mrr", "recall@50", "coverage@10", "novelty@10"):
    diff = abs(own[k] - pe[k])
    if k in ("recall@10", "ndcg_full@10", "mrr"):
        worst = max(worst, diff)
    print(f"| {k} | {own[k]:.6f} | {pe[k]:.6f} | {diff:.1e} |")
print(f"\nlargest difference of recall@10, ndcg_full@10, mrr: {worst:.1e} "
      f"({'within' if worst <= 1e-3 else 'OUTSIDE'} 1e-3)")
sys.exit(0 if worst <= 1e-3 else 1)
