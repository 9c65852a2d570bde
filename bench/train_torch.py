"""PyTorch peer of `npm run bench:train` (bench/train.ts runs it with Debian's /usr/bin/python3).

One epoch of an MNIST model at a given batch size, optimizer and thread count, on the MNIST IDX files that flowserve
reads: the same models (softmax regression with zero weights; 784-256-128-10 MLP; TensorFlow's Deep MNIST CNN, 5x5
convolutions with SAME padding, 2x2 max pools, dense 1024), the same optimizers (SGD, Adam with TF's defaults), the
same batches shuffled with a seed. A step is timed as flowserve's is: forward, backward, update, and the loss and
batch accuracy read back; building the batch tensor is not timed (flowserve's feeds are built before its clock
starts too). Prints one JSON line: {"examples_per_s", "examples", "threads", "torch"}.

Usage: python3 train_torch.py --data DIR --model softmax|mlp|cnn --optimizer sgd|adam --lr LR --batch N
       --limit N --threads T [--seed S]
"""

import argparse
import gzip
import json
import os
import struct
import time

import torch
import torch.nn.functional as F


def read_idx(data_dir, name):
    """An IDX file (plain or .gz, as flowserve accepts) as a uint8 tensor of its shape."""
    path = os.path.join(data_dir, name)
    opener = open
    if not os.path.exists(path):
        path, opener = path + ".gz", gzip.open
    with opener(path, "rb") as f:
        raw = f.read()
    rank = raw[3]
    dims = struct.unpack(">" + "I" * rank, raw[4 : 4 + 4 * rank])
    return torch.frombuffer(bytearray(raw[4 + 4 * rank :]), dtype=torch.uint8).reshape(dims)


class Softmax(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(784, 10)
        torch.nn.init.zeros_(self.fc.weight)
        torch.nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        return self.fc(x)


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = torch.nn.Linear(784, 256), torch.nn.Linear(256, 128), torch.nn.Linear(128, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Cnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = torch.nn.Linear(7 * 7 * 64, 1024)
        self.fc2 = torch.nn.Linear(1024, 10)

    def forward(self, x):
        h = x.reshape(-1, 1, 28, 28)
        h = F.max_pool2d(F.relu(self.conv1(h)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return self.fc2(F.relu(self.fc1(h.flatten(1))))


MODELS = {"softmax": Softmax, "mlp": Mlp, "cnn": Cnn}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--model", choices=sorted(MODELS), required=True)
    p.add_argument("--optimizer", choices=["sgd", "adam"], required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--limit", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    images = read_idx(a.data, "train-images-idx3-ubyte")[: a.limit].reshape(-1, 784).float().div_(255)
    labels = read_idx(a.data, "train-labels-idx1-ubyte")[: a.limit].long()
    model = MODELS[a.model]()
    if a.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(a.seed))
    seconds, examples, cpu = 0.0, 0, 0.0
    for start in range(0, images.shape[0], a.batch):
        idx = order[start : start + a.batch]
        x, y = images[idx], labels[idx]
        t0 = time.perf_counter(); c0 = time.process_time()
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        opt.step()
        with torch.no_grad():
            loss.item()
            (logits.argmax(1) == y).float().mean().item()
        seconds += time.perf_counter() - t0; cpu += time.process_time() - c0
        examples += x.shape[0]
    print(json.dumps({"examples_per_s": examples / seconds, "examples": examples, "threads": a.threads, "cpu_ms_per_step": 1000 * cpu / max(1, examples // a.batch),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
