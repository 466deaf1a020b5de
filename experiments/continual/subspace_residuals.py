"""How much of each task's input energy lies outside HLOP's frozen subspace, vs the SVD optimum.

    python experiments/continual/subspace_residuals.py N_TASKS [LIMIT|0] [lit|orth]

Trains HLOP on the first N_TASKS PMNIST tasks (full protocol, seed 0, one thread) and after
each task prints, per protected layer (L0 = fc1 input, L1 = fc2 input, L2 = classifier
input), the residual energy ||X - X Q^T Q||^2 / ||X||^2 of 2,000 test images of every seen
task with Q the consolidated Hebbian basis ("hebb"), next to the same quantity for the top-k
right singular vectors of all seen tasks' inputs ("svd", the best any k-dim subspace can do
on these inputs). ``orth`` sets ``HLOP.orthonormal_rows``.
"""
import os, sys, time, torch
torch.set_num_threads(1)
from neurosim.continual.methods import build_method as build
from neurosim.continual.protocols import load_benchmark, train_task, evaluate
from neurosim.snn.containers import reset_states

ntask = int(sys.argv[1]) if len(sys.argv) > 1 else 2
limit = (int(sys.argv[2]) or None) if len(sys.argv) > 2 else None
model, strat = build("hlop", "pmnist", 10, seed=0)
strat.orthonormal_rows = len(sys.argv) > 3 and sys.argv[3] == "orth"
print("orthonormal_rows", strat.orthonormal_rows)
tasks = load_benchmark("pmnist", ntask, root=os.environ.get("NEUROSIM_DATA", "../shared/data"), seed=0, limit=limit)
strat.prepare(model, tasks)
gen = torch.Generator().manual_seed(0)

@torch.no_grad()
def layer_inputs(task, n=2000):
    x, _ = task.batch("test", slice(0, n))
    reset_states(model)
    h = model.fcs[0](x.flatten(1)); T = model.timesteps
    s1 = model.lifs[0](h.unsqueeze(0).expand(T, *h.shape))
    s2 = model.lifs[1](model.fcs[1](s1))
    return [x.flatten(1), s1.reshape(-1, 800), s2.reshape(-1, 800)]

def resid(X, Q):
    X = X.double(); Q = Q.double()
    return float(((X - (X @ Q.T) @ Q) ** 2).sum() / (X ** 2).sum())

for t in range(ntask):
    t0 = time.time()
    strat.begin_task(model, t, tasks[t])
    train_task(model, strat, tasks[t], t, gen=gen)
    strat.end_task(model, t, tasks[t], tasks[:t+1], gen=gen)
    print(f"task {t} trained {time.time()-t0:.0f}s acc", [round(evaluate(model, tk)*100, 2) for tk in tasks[:t+1]], flush=True)
    seen = [layer_inputs(tk) for tk in tasks[:t + 1]]  # per task: inputs of every protected layer
    bases = []
    for li, layer in enumerate(strat.layers):
        Q = layer.hebbian.basis
        # SVD optimum: top-k right singular vectors of all seen tasks' inputs (uncentred)
        Vh = torch.linalg.svd(torch.cat([xs[li] for xs in seen]).double(), full_matrices=False)[2]
        bases.append((Q, Vh[:Q.shape[0]]))
    for j, Xs in enumerate(seen):
        out = [f"L{li} k={Q.shape[0]} hebb {resid(X, Q):.4f} svd {resid(X, V):.4f}"
               for li, (X, (Q, V)) in enumerate(zip(Xs, bases))]
        print(f"  inputs of task {j}: " + " | ".join(out), flush=True)
