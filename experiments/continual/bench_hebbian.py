"""CPU time of one Hebbian batch update (5 iterations): literal form vs frozen-once torch vs Numba.

Run with OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 on shared cores.
"""
import time

import numpy as np
import torch
torch.set_num_threads(1)
from neurosim.kernels.plasticity import hebbian_subspace_update
from neurosim.continual.hebbian import hebbian_update, HebbianParams
rng=np.random.default_rng(0)
p=HebbianParams()
def orig(H,M,X,Kf):  # literal per-iteration full-matrix form (as in the reference code)
    B=X.shape[0]
    for _ in range(5):
        Y=X@H.T; D=(Y.T@(X-Y@H))/B; D.clamp_(-10,10); D[:Kf]=0
        keep=M[:Kf].clone(); M[:Kf]=0; M.mul_(0.9).add_(D,alpha=0.1); H.add_(M,alpha=0.01); M[:Kf]=keep
print("| rows B | n | frozen | new | literal torch (ms) | torch, frozen once (ms) | Numba kernel (ms) |")
print("|---|---|---|---|---|---|---|")
for (B,n,Kf,k) in [(64,784,400,30),(384,800,200,70),(384,800,500,50),(384,800,560,10)]:
    X=(rng.random((B,n))<0.15).astype(np.float32)
    H=(rng.standard_normal((Kf+k,n))*0.03).astype(np.float32); M=np.zeros_like(H)
    res=[]
    Ht=torch.from_numpy(H.copy()); Mt=torch.zeros_like(Ht); Xt=torch.from_numpy(X)
    for f in [lambda: orig(Ht,Mt,Xt,Kf), lambda: hebbian_update(Ht,Mt,Xt,Kf,p), lambda: hebbian_subspace_update(H,M,X,Kf,eta=0.01)]:
        f(); c=time.process_time()
        for _ in range(10): f()
        res.append((time.process_time()-c)/10*1e3)
    print(f"| {B} | {n} | {Kf} | {k} | {res[0]:.1f} | {res[1]:.1f} | {res[2]:.1f} |")
