#!/usr/bin/python3
"""Reference for tests/e2e_torch_ctc.sh: PyTorch's CTC loss and its gradient wrt the logits.

  torch_ctc_ref.py gen CASES          writes random cases (logits, labels) to CASES
  torch_ctc_ref.py compare CASES OURS compares OURS (written by build/tests/test_ctc --cases) with
                                      torch.nn.functional.ctc_loss(reduction='sum') on the same cases
Case file: "N", then per case "T O L", L labels, T*O logits; OURS: per case the loss, then T*O
gradient values. Prints one line per failure and ends with "N passed, N failed".
"""
import sys

import numpy as np
import torch


def gen(path):
    rng = np.random.default_rng(20240601)
    cases = []
    def add(T, O, labels, scale=2.0, blank_bias=0.0):
        z = rng.uniform(-scale, scale, size=(T, O))
        z[:, 0] += blank_bias
        cases.append((T, O, list(labels), z))
    add(1, 5, [])                                 # L = 0
    add(40, 5, [], blank_bias=2)                  # L = 0, blank-heavy
    add(1, 5, [3])                                # L = 1, T minimal
    add(30, 5, [3])                               # L = 1
    add(3, 5, [2, 2])                             # "aa", T minimal
    add(20, 5, [2, 2, 2])                         # "aaa"
    add(5, 6, [1, 1, 4, 4])                       # "aabb" T = 6 needed: infeasible at 5
    add(6, 6, [1, 1, 4, 4])                       # minimal
    add(4, 29, [5, 9, 12, 7])                     # T = L exactly
    add(500, 29, [8, 5, 12, 12, 15], 3.0, 4.0)    # blank-heavy T >> L
    add(200, 29, list(rng.integers(1, 29, 40)), 6.0)  # peaky
    for _ in range(12):
        O = int(rng.integers(3, 30))
        L = int(rng.integers(0, 12))
        labels = list(rng.integers(1, O, L))
        if L >= 2 and rng.uniform() < 0.5:
            labels[1] = labels[0]                 # force a repeat
        need = L + sum(1 for i in range(1, L) if labels[i] == labels[i - 1])
        T = max(1, need + int(rng.integers(0, 60)))
        add(T, O, labels, float(rng.uniform(0.5, 8)))
    with open(path, "w") as f:
        f.write(f"{len(cases)}\n")
        for T, O, labels, z in cases:
            f.write(f"{T} {O} {len(labels)}\n{' '.join(str(int(x)) for x in labels)}\n")
            f.write(" ".join(f"{v:.9g}" for v in z.astype(np.float32).ravel()) + "\n")


def read_cases(path):
    toks = open(path).read().split()
    pos = 1
    cases = []
    for _ in range(int(toks[0])):
        T, O, L = (int(x) for x in toks[pos:pos + 3]); pos += 3
        labels = [int(x) for x in toks[pos:pos + L]]; pos += L
        z = np.array(toks[pos:pos + T * O], dtype=np.float32).reshape(T, O); pos += T * O
        cases.append((T, O, labels, z))
    return cases


def compare(cases_path, ours_path):
    cases = read_cases(cases_path)
    toks = open(ours_path).read().split()
    pos = 0
    passed = failed = 0
    for i, (T, O, labels, z) in enumerate(cases):
        loss = float(toks[pos]); pos += 1
        grad = np.array(toks[pos:pos + T * O], dtype=np.float64).reshape(T, O); pos += T * O
        # float64 reference on the same float32 logits
        zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        lp = torch.log_softmax(zt, dim=1).unsqueeze(1)  # (T, 1, O)
        tgt = torch.tensor([labels if labels else [0]], dtype=torch.long)
        ref = torch.nn.functional.ctc_loss(lp, tgt, torch.tensor([T]), torch.tensor([len(labels)]),
                                           blank=0, reduction='sum', zero_infinity=False)
        what = f"case {i} (T {T} O {O} L {len(labels)})"
        if not np.isfinite(ref.item()):
            if np.isinf(loss) and loss > 0:
                passed += 1
            else:
                failed += 1
                print(f"{what}: torch says infeasible (inf), ours {loss}")
            continue
        ref.backward()
        rg = zt.grad.numpy()
        rel = abs(loss - ref.item()) / max(abs(ref.item()), 1e-6)
        if rel <= 1e-4:
            passed += 1
        else:
            failed += 1
            print(f"{what}: loss {loss} vs torch {ref.item()} (rel {rel:.2e})")
        md = float(np.max(np.abs(grad - rg)))
        if md <= 1e-4:
            passed += 1
        else:
            failed += 1
            print(f"{what}: gradient max abs diff {md:.2e}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "gen":
        gen(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
