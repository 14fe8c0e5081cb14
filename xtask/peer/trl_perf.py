"""trl 0.13 on a workload `cargo xtask perf` writes (target/perf/…), for prefzoo/trl ratios
from one sitting on one machine (absolute seconds differ between machines). `cargo xtask perf
--peer trl` runs this in a venv it creates under target/peer-venv; not part of CI.

    python xtask/peer/trl_perf.py --mode train|score --model DIR --data PAIRS.jsonl \
        --steps N --threads T [--max-length L --max-prompt-length P] [--bf16] --out OUT.json

Same settings as xtask's prefzoo configs: DPOTrainer, sigmoid loss, β 0.1, lr 1e-5 constant,
4 pairs per step, no accumulation, max_grad_norm 1, the policy's own copy as reference, f32
(or `--bf16`: torch's CPU autocast to bfloat16, as trl's `bf16=True` does there). The pairs are
taken in file order (a SequentialSampler instead of the Trainer's shuffling), as prefzoo's
`shuffle = false` takes them, so both trainers see the same batches. trl 0.13 has no ε-DPO
trainer, so this times DPO only.

--mode train: per-step seconds (on_step_begin → on_step_end) of `--steps` steps.
--mode score: forward-only scoring, policy and reference log-probs of every pair, 4 pairs per
batch under torch.no_grad() (DPOTrainer.concatenated_forward on both models), timed in process.
Both write JSON to --out, with each pair's token lengths (completions with their eos) so the
caller can check that trl tokenised exactly as prefzoo did. Peak RSS is measured by the caller
(/usr/bin/time -v), as for prefzoo.
"""

import argparse
import json
import os
import time

ap = argparse.ArgumentParser()
ap.add_argument("--mode", choices=["train", "score"], required=True)
ap.add_argument("--model", required=True)
ap.add_argument("--data", required=True)
ap.add_argument("--steps", type=int, required=True)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--max-length", type=int, default=None)
ap.add_argument("--max-prompt-length", type=int, default=None)
ap.add_argument("--bf16", action="store_true")
ap.add_argument("--out", required=True)
args = ap.parse_args()
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import torch  # noqa: E402
from datasets import load_dataset  # noqa: E402
from torch.utils.data import SequentialSampler  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402
import trl  # noqa: E402

torch.set_num_threads(args.threads)
model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32)
tok = AutoTokenizer.from_pretrained(args.model)
if tok.pad_token is None:
    tok.pad_token = tok.eos_token
data = load_dataset("json", data_files=args.data, split="train")
if args.mode == "train":
    data = data.select(range(min(len(data), 4 * args.steps)))


class InOrder(DPOTrainer):
    """The pairs in file order, as prefzoo's `shuffle = false`."""

    def _get_train_sampler(self):
        return SequentialSampler(self.train_dataset)


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
    output_dir=os.path.join(os.path.dirname(args.out), "trl-run"),
    per_device_train_batch_size=4,
    gradient_accumulation_steps=1,
    learning_rate=1e-5,
    lr_scheduler_type="constant",
    max_steps=args.steps,
    max_grad_norm=1.0,
    max_length=args.max_length,
    max_prompt_length=args.max_prompt_length,
    beta=0.1,
    loss_type="sigmoid",
    logging_steps=1,
    save_strategy="no",
    report_to=[],
    use_cpu=True,
    bf16=args.bf16,
    dataloader_num_workers=0,
    seed=42,
)
trainer = InOrder(model=model, args=cfg, train_dataset=data, processing_class=tok, callbacks=[timer])
ds = trainer.train_dataset
lengths = [
    [len(p), len(c), len(r)]
    for p, c, r in zip(ds["prompt_input_ids"], ds["chosen_input_ids"], ds["rejected_input_ids"])
]
result = {
    "trl": trl.__version__,
    "torch": torch.__version__,
    "bf16": args.bf16,
    "threads": args.threads,
    "lengths": lengths,
}
if args.mode == "train":
    trainer.train()
    result["step_seconds"] = timer.steps
else:
    trainer.model.eval()
    trainer.ref_model.eval()
    logps = []
    t0 = time.perf_counter()
    with torch.no_grad():
        for batch in trainer.get_train_dataloader():
            pol = trainer.concatenated_forward(trainer.model, batch)
            ref_c, ref_r = trainer.compute_ref_log_probs(batch)
            for i in range(len(ref_c)):
                logps.append([
                    pol["chosen_logps"][i].item(), pol["rejected_logps"][i].item(),
                    ref_c[i].item(), ref_r[i].item(),
                ])
    result["score_seconds"] = time.perf_counter() - t0
    result["logps"] = logps
with open(args.out, "w") as f:
    json.dump(result, f)
