"""Bring your own trainer: trl 0.13's DPOTrainer on a `prefzoo demo` world, written as a run
directory that `prefzoo eval --run DIR` judges exactly as it judges prefzoo's own runs (win rate
against the test pairs' chosen responses under r*, KL(π_ref‖π_θ), and the DPO loss, accuracy
and margins on the test pairs). Not part of CI; see docs/benchmarks.md, "Bring your own trainer".

    python xtask/peer/trl_world.py --world OUT/world --beta 0.1 --seed 0 --out DIR \
        [--like PREFZOO_RUN_DIR | --epochs 4 --lr 1e-3 ...] [--threads 1]

    prefzoo eval --run DIR

The world (`OUT/world`, written by `prefzoo demo`): `reference/` (π_ref in HF Llama layout with
a word-level tokenizer.json), `train.jsonl` and `test.jsonl` (trl's standard format) and
`world.json` (what makes `prefzoo eval` find the judge).

Training is the study's, in trl: policy and reference both loaded from `reference/`; DPO
(loss_type "sigmoid") at --beta; AdamW (adamw_torch) lr 1e-3, betas (0.9, 0.999), eps 1e-8, no
weight decay, no clipping (max_grad_norm 0: transformers clips only when it is > 0); 10 % linear
warm-up (⌈ratio × steps⌉, as prefzoo) then cosine to 0; 32 pairs per step, no accumulation;
f32 on the CPU; no truncation (max lengths unset, as the suite leaves them: the world's
sequences are at most 26 tokens). `--like` reads these settings from a prefzoo run's resolved
config.toml instead (e.g. `OUT/runs/DPO-b0.1-s0`), so the trl run matches the suite it is
compared with. The data order is trl's own (the Trainer's seeded random sampler, seed
--seed): not prefzoo's, which is part of what "a trainer difference" means.

DIR gets: `final/` (model.safetensors and config.json from save_pretrained, the reference's
tokenizer files), `config.toml` (what `prefzoo eval` reads: model and ref_model = the world's
reference, algo "dpo", [loss] beta, [dataset] path = the world's train.jsonl, whose folder's
world.json makes the judge, and eval_path = its test.jsonl; plus the training settings trl used,
in prefzoo's names), `trl_log.jsonl` (trl's per-step log) and `trl_run.json` (versions, settings,
wall time).
"""

import argparse
import json
import math
import os
import shutil
import sys
import time

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--world", required=True, help="a demo world: OUT/world")
ap.add_argument("--beta", type=float, required=True)
ap.add_argument("--seed", type=int, default=0, help="trl's seed (its data order)")
ap.add_argument("--out", required=True, help="the run directory to write")
ap.add_argument("--like", default=None,
                help="take the training settings from this prefzoo run's config.toml (a run "
                     "directory or the file); the flags below are then ignored")
ap.add_argument("--epochs", type=float, default=4.0)
ap.add_argument("--max-steps", type=int, default=-1)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--batch-size", type=int, default=32)
ap.add_argument("--warmup-ratio", type=float, default=0.1)
ap.add_argument("--scheduler", default="cosine")
ap.add_argument("--weight-decay", type=float, default=0.0)
ap.add_argument("--max-grad-norm", type=float, default=0.0)
ap.add_argument("--threads", type=int, default=1, help="torch threads (the demo trains each run on one)")
args = ap.parse_args()
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

world = os.path.abspath(args.world)
out = os.path.abspath(args.out)
ref_dir = os.path.join(world, "reference")
for need in (ref_dir, os.path.join(world, "train.jsonl"), os.path.join(world, "test.jsonl"),
             os.path.join(world, "world.json")):
    if not os.path.exists(need):
        sys.exit(f"{need} is missing: --world must be a `prefzoo demo` world (OUT/world)")

# The training settings, in prefzoo's (= trl's) key names.
settings = {
    "learning_rate": args.lr,
    "lr_scheduler_type": args.scheduler,
    "warmup_ratio": args.warmup_ratio,
    "warmup_steps": 0,
    "weight_decay": args.weight_decay,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_epsilon": 1e-8,
    "max_grad_norm": args.max_grad_norm,
    "per_device_train_batch_size": args.batch_size,
    "gradient_accumulation_steps": 1,
    "num_train_epochs": args.epochs,
    "max_steps": args.max_steps,
    "bf16": False,
}
lengths = {"max_length": None, "max_prompt_length": None, "max_completion_length": None}
if args.like:
    import tomllib

    path = args.like if args.like.endswith(".toml") else os.path.join(args.like, "config.toml")
    with open(path, "rb") as f:
        like = tomllib.load(f)
    for k in settings:
        if k in like:
            settings[k] = like[k]
    for k in lengths:
        lengths[k] = like.get(k)
    if like.get("algo", "dpo") != "dpo":
        print(f"note: {path} is a `{like['algo']}` run; only its training settings are used",
              file=sys.stderr)

import torch  # noqa: E402
import transformers  # noqa: E402
import trl  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, set_seed  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

torch.set_num_threads(args.threads)
set_seed(args.seed)
dtype = torch.bfloat16 if settings["bf16"] else torch.float32
# The policy starts from π_ref; the reference is π_ref (a second, frozen copy).
model = AutoModelForCausalLM.from_pretrained(ref_dir, torch_dtype=torch.float32)
ref_model = AutoModelForCausalLM.from_pretrained(ref_dir, torch_dtype=torch.float32)
tok = AutoTokenizer.from_pretrained(ref_dir)
if tok.pad_token is None:
    tok.pad_token = tok.eos_token
with open(os.path.join(world, "train.jsonl")) as f:
    rows = [json.loads(line) for line in f if line.strip()]
data = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])

os.makedirs(out, exist_ok=True)
trl_dir = os.path.join(out, "trl")
cfg = DPOConfig(
    output_dir=trl_dir,
    beta=args.beta,
    loss_type="sigmoid",
    learning_rate=settings["learning_rate"],
    lr_scheduler_type=settings["lr_scheduler_type"],
    warmup_ratio=settings["warmup_ratio"],
    warmup_steps=settings["warmup_steps"],
    weight_decay=settings["weight_decay"],
    adam_beta1=settings["adam_beta1"],
    adam_beta2=settings["adam_beta2"],
    adam_epsilon=settings["adam_epsilon"],
    optim="adamw_torch",
    max_grad_norm=settings["max_grad_norm"],  # 0: transformers does not clip
    per_device_train_batch_size=settings["per_device_train_batch_size"],
    gradient_accumulation_steps=settings["gradient_accumulation_steps"],
    num_train_epochs=settings["num_train_epochs"],
    max_steps=settings["max_steps"],
    max_length=lengths["max_length"],
    max_prompt_length=lengths["max_prompt_length"],
    max_completion_length=lengths["max_completion_length"],
    bf16=settings["bf16"],
    use_cpu=True,
    seed=args.seed,
    logging_steps=1,
    save_strategy="no",
    eval_strategy="no",
    report_to=[],
    dataloader_num_workers=0,
    disable_tqdm=True,
)
trainer = DPOTrainer(model=model, ref_model=ref_model, args=cfg, train_dataset=data,
                     processing_class=tok)
trainer.remove_callback(PrinterCallback)  # the per-step log goes to trl_log.jsonl

# Check that trl tokenised as prefzoo does: one id per word of the text (a sampled `<sep>` or
# `<unk>` in a response is a word too), `<eos>` after each completion, nothing truncated.
ds = trainer.train_dataset
eos = tok.eos_token_id
ids = tok.convert_tokens_to_ids
for row, p, c, r in zip(rows, ds["prompt_input_ids"], ds["chosen_input_ids"],
                        ds["rejected_input_ids"]):
    assert p == ids(row["prompt"].split()), (row, p)
    assert c == ids(row["chosen"].split()) + [eos], (row, c)
    assert r == ids(row["rejected"].split()) + [eos], (row, r)
    assert len(p) + max(len(c), len(r)) <= model.config.max_position_embeddings

t0 = time.perf_counter()
trainer.train()
seconds = time.perf_counter() - t0
steps = trainer.state.global_step

final = os.path.join(out, "final")
os.makedirs(final, exist_ok=True)
trainer.model.save_pretrained(final, safe_serialization=True)
for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
    if os.path.exists(os.path.join(ref_dir, name)):
        shutil.copy(os.path.join(ref_dir, name), final)
if os.path.isdir(trl_dir) and not os.listdir(trl_dir):
    os.rmdir(trl_dir)

with open(os.path.join(out, "trl_log.jsonl"), "w") as f:
    for entry in trainer.state.log_history:
        f.write(json.dumps(entry) + "\n")
with open(os.path.join(out, "trl_run.json"), "w") as f:
    json.dump({
        "trainer": "trl.DPOTrainer",
        "trl": trl.__version__, "transformers": transformers.__version__,
        "torch": torch.__version__, "threads": args.threads,
        "world": world, "beta": args.beta, "seed": args.seed, "loss_type": "sigmoid",
        "settings": settings, "lengths": lengths, "like": args.like,
        "pairs": len(data), "steps": steps, "seconds_train": seconds,
        "warmup_steps": math.ceil(settings["warmup_ratio"] * steps)
        if not settings["warmup_steps"] else settings["warmup_steps"],
    }, f, indent=1)


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return json.dumps(str(v))  # a basic TOML string


# What `prefzoo eval --run` reads (TrainConfig: unknown keys are errors, so only its keys).
lines = [
    "# Written by xtask/peer/trl_world.py: a policy trained by trl "
    f"{trl.__version__}'s DPOTrainer (loss_type sigmoid),",
    "# not by prefzoo, for `prefzoo eval --run`. It reads model (the tokenizer), ref_model (the",
    "# loss's reference and the KL reference), algo and [loss] (the loss on the eval split),",
    "# [dataset] (path: its folder's world.json makes the judge; eval_path: the pairs scored),",
    "# device, bf16 and seed. The other keys are the settings trl trained with, in prefzoo's",
    "# names; the data order was trl's own (its seeded random sampler).",
    'algo = "dpo"',
    f"model = {toml_value(ref_dir)}",
    f"ref_model = {toml_value(ref_dir)}",
    'device = "cpu"',
    f"seed = {args.seed}",
    f"output_dir = {toml_value(out)}",
]
for k, v in settings.items():
    lines.append(f"{k} = {toml_value(v)}")
for k, v in lengths.items():
    if v is not None:
        lines.append(f"{k} = {toml_value(v)}")
lines += [
    "",
    "[dataset]",
    'format = "standard"',
    f"path = {toml_value(os.path.join(world, 'train.jsonl'))}",
    f"eval_path = {toml_value(os.path.join(world, 'test.jsonl'))}",
    "",
    "[loss]",
    f"beta = {toml_value(float(args.beta))}",
]
with open(os.path.join(out, "config.toml"), "w") as f:
    f.write("\n".join(lines) + "\n")
print(f"trl: {steps} steps in {seconds:.1f} s → {out} (judge it: prefzoo eval --run {out})")
