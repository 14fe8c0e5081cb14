"""trl 0.13 DPOTrainer on the workload `cargo xtask perf` writes under target/perf/, for a
side-by-side step time and peak RSS on the same machine (ratios from one sitting count; absolute
seconds differ between machines).

Setup (once; not part of CI):
    python3 -m venv target/peer-venv
    target/peer-venv/bin/pip install torch==2.6.0 transformers==4.48.0 trl==0.13.0 \
        datasets==3.2.0 accelerate==1.2.1
Run after `cargo xtask perf` (it writes target/perf/model-33m and target/perf/pairs.jsonl):
    target/peer-venv/bin/python xtask/peer/trl_perf.py [--bf16] [--steps 6] [--threads 2]

Same settings as xtask's perf configs: DPO sigmoid, β 0.1, lr 1e-5 constant, 4 pairs per step,
no accumulation, max_grad_norm 1, max_length 256, max_prompt_length 128 (every pair is 128 + 128
tokens, so the sampling order changes no shape),
the policy's own copy as reference, f32 (or `--bf16`: torch autocast to bfloat16 on the CPU, as
trl's `bf16=True` does there). Prints JSON: per-step seconds (the first apart), median, peak
RSS (getrusage, the whole process).
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--bf16", action="store_true")
ap.add_argument("--steps", type=int, default=6)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--root", default="target/perf")
args = ap.parse_args()
os.environ["OMP_NUM_THREADS"] = str(args.threads)

import torch  # noqa: E402
from datasets import load_dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

torch.set_num_threads(args.threads)
model_dir = os.path.join(args.root, "model-33m")
model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
tok = AutoTokenizer.from_pretrained(model_dir)
if tok.pad_token is None:
    tok.pad_token = tok.eos_token
data = load_dataset("json", data_files=os.path.join(args.root, "pairs.jsonl"), split="train")


class Timer(TrainerCallback):
    def __init__(self):
        self.t0 = None
        self.steps = []

    def on_step_begin(self, *a, **k):
        self.t0 = time.perf_counter()

    def on_step_end(self, *a, **k):
        self.steps.append(time.perf_counter() - self.t0)


timer = Timer()
cfg = DPOConfig(
    output_dir=os.path.join(args.root, "trl-run"),
    per_device_train_batch_size=4,
    gradient_accumulation_steps=1,
    learning_rate=1e-5,
    lr_scheduler_type="constant",
    max_steps=args.steps,
    max_grad_norm=1.0,
    max_length=256,
    max_prompt_length=128,
    beta=0.1,
    logging_steps=1,
    save_strategy="no",
    report_to=[],
    use_cpu=True,
    bf16=args.bf16,
    dataloader_num_workers=0,
    seed=42,
)
trainer = DPOTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok, callbacks=[timer])
trainer.train()
rest = timer.steps[1:]
print(json.dumps({
    "trl": "0.13.0", "torch": torch.__version__, "bf16": args.bf16, "threads": args.threads,
    "first_step_seconds": timer.steps[0],
    "median_step_seconds": statistics.median(rest),
    "step_seconds": rest,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}, indent=2))
