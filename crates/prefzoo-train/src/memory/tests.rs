//! Unit tests of memory.rs: per-component bytes worked out by hand, every kind of reference,
//! size parsing, and parameter counts against the fixtures' real counts.

use super::*;

/// A 2-layer Llama small enough to count by hand:
/// vocab 10, hidden 4, intermediate 6, 2 heads, 1 kv head, head_dim 2, untied.
fn tiny() -> ModelShape {
    ModelShape {
        // embed 10·4 + lm_head 4·10 + final norm 4
        // + 2 layers × (q 4·4 + k 4·2 + v 4·2 + o 4·4 + gate, up, down 3·4·6 + 2 norms·4 = 128)
        params: 40 + 40 + 4 + 2 * 128,
        vocab: 10,
        hidden: 4,
        intermediate: 6,
        layers: 2,
        heads: 2,
        kv_heads: 1,
        head_dim: 2,
        tied: false,
        one_plus_norm: false,
        sandwich_norms: false,
        qk_norm: false,
        geglu: false,
        attn_softcap: false,
        final_softcap: false,
    }
}

fn inputs(bf16: bool, reference: ReferencePlan, accumulation: u64) -> MemoryInputs {
    MemoryInputs {
        backend: BackendKind::Cpu,
        policy: tiny(),
        reference_params: 340,
        reference,
        pairs_per_micro_batch: 1,
        max_length: 3,
        chunk_size: 2,
        gradient_accumulation_steps: accumulation,
        bf16,
        perturbed: false,
    }
}

#[test]
fn tiny_llama_by_hand_f32() {
    let plan = estimate(&inputs(false, ReferencePlan::Frozen, 4));
    // P = 340: weights 4P, gradients 4P, accumulated 4P (accumulation 4 > 1), Adam 8P,
    // frozen f32 reference 4·P_ref.
    assert_eq!(plan.policy_weights, 1360);
    assert_eq!(plan.gradients, 1360);
    assert_eq!(plan.accumulated_gradients, 1360);
    assert_eq!(plan.adam_moments, 2720);
    assert_eq!(plan.reference, 1360);
    // R = 2 rows, T = 3, c = 4: n_h = 2·3·4 = 24, n_q = 2·3·2·2 = 24, n_kv = 2·3·1·2 = 12,
    // n_i = 2·3·6 = 36, n_s = 2·2·3² = 36; norm(n) = 4n + 4n = 8n.
    // attention = norm(24) 192 + c·n_h 96 + 3·4·n_q 288 + 3·4·n_s 432 + c·n_q 96 = 1104
    // mlp block = norm(24) 192 + c·n_h 96 + 5·c·n_i 720 = 1008
    assert_eq!(plan.per_layer, 1104 + 1008);
    let a = plan.activations;
    assert_eq!(a.layers, 2 * 2112);
    // final = norm(24) 192 + c·n_h 96; logits = 4·R·T·V = 4·2·3·10 = 240
    assert_eq!(a.head, 192 + 96 + 240);
    assert_eq!(a.weight_casts, 0);
    // working = layer 2112 + 4·R·C·V·k (C = 2, k = 2 + 2 for a reference run each step)
    // = 4·2·2·10·4 = 640, + the reference's hidden states c·n_h = 96
    assert_eq!(a.working_set, 2112 + 640 + 96);
    // Balanced, f32: ckpt_norm = 0; attention_ck = q/k/v outputs 4·(24 + 2·12) 192
    // + RoPE products 2·4·(24 + 12) 288 + rot 4·(24 + 12) 144 + scores 2·4·36 288
    // + heads' output 4·24 96 + o_proj 4·24 96 = 1104;
    // mlp_ck = gate, up 2·4·36 288 + down 4·24 96 = 384
    assert_eq!(plan.per_layer_checkpointed, 1104 + 384);
    assert_eq!(plan.activations_checkpointed.layers, 2 * 1488);
    // final_ck = ckpt_norm 0 + embedding output 4·24 96; logits 240
    assert_eq!(plan.activations_checkpointed.head, 96 + 240);
    assert_eq!(plan.activations_checkpointed.weight_casts, 0);
    assert_eq!(
        plan.total(false),
        1360 * 4 + 2720 + 4224 + 528 + 2848,
        "states + activations"
    );
}

#[test]
fn tiny_llama_by_hand_bf16_without_reference() {
    let plan = estimate(&inputs(true, ReferencePlan::None, 1));
    assert_eq!(plan.accumulated_gradients, 0, "no accumulation");
    assert_eq!(plan.reference, 0, "SimPO-like: no reference");
    // c = 2, norm(n) = 4n + 2n = 6n; attention is f32 whatever c:
    // attention = norm(24) 144 + c·n_h 48 + 3·4·n_q 288 + 3·4·n_s 432 + c·n_q 48 = 960,
    // mlp block = 144 + 48 + 5·2·36 = 552
    assert_eq!(plan.per_layer, 960 + 552);
    // decoder params = 340 − 2·10·4 − 4 = 256; casts = 2·256 + 2·H·V (once per forward)
    // = 512 + 2·4·10
    assert_eq!(plan.activations.weight_casts, 512 + 80);
    // the linears keep their cast weights with checkpointing too
    assert_eq!(plan.activations_checkpointed.weight_casts, 512 + 80);
    // working = 1512 + 4·2·2·10·2 (k = 2: no reference runs) = 1512 + 320
    assert_eq!(plan.activations.working_set, 1832);
    // Balanced, bf16: ckpt_norm(24) = 4·24 + 2·24 = 144;
    // attention_ck = 144 + q/k/v outputs 2·(24 + 24) 96 + RoPE 2·2·(24 + 12) 144
    // + f32 casts of q, k, v 4·(24 + 2·12) 192 + scores 2·4·36 288 + heads' output 2·24 48
    // + o_proj 2·24 48 = 960; mlp_ck = 144 + 2·2·36 144 + 2·24 48 = 336
    assert_eq!(plan.per_layer_checkpointed, 960 + 336);
    // final_ck = ckpt_norm 144 + embedding output 48 + logits 4·2·3·10 240
    assert_eq!(plan.activations_checkpointed.head, 144 + 48 + 240);
}

#[test]
fn tiny_llama_by_hand_on_a_gpu() {
    let cpu = estimate(&inputs(false, ReferencePlan::Frozen, 4));
    let gpu = estimate(&MemoryInputs {
        backend: BackendKind::Gpu,
        ..inputs(false, ReferencePlan::Frozen, 4)
    });
    // The head node keeps the hidden rows and one f32 per position: (c·H + 4)·R·T
    // = (4·4 + 4)·2·3 = 120 instead of the logits' 4·R·T·V = 240.
    assert_eq!(gpu.activations.head, 192 + 96 + 120);
    assert_eq!(gpu.activations_checkpointed.head, 96 + 120);
    // Backward recomputes one chunk: k = max(4 (a reference each step), 4) = 4, as on the CPU.
    assert_eq!(gpu.activations.working_set, cpu.activations.working_set);
    // Everything else is the same arithmetic.
    assert_eq!(gpu.per_layer, cpu.per_layer);
    assert_eq!(gpu.states(), cpu.states());
    // With a final soft-cap and no reference: k = max(2, 4 + 2) = 6 on the GPU, the tanh's
    // copy of the logits on the CPU.
    let capped = |backend| {
        let mut i = inputs(false, ReferencePlan::None, 1);
        i.backend = backend;
        i.policy.final_softcap = true;
        estimate(&i)
    };
    let (cpu, gpu) = (capped(BackendKind::Cpu), capped(BackendKind::Gpu));
    assert_eq!(cpu.activations.head, 192 + 96 + 2 * 240);
    assert_eq!(gpu.activations.head, 192 + 96 + 120);
    assert_eq!(cpu.activations.working_set, 2112 + 4 * 2 * 2 * 10 * 2);
    assert_eq!(gpu.activations.working_set, 2112 + 4 * 2 * 2 * 10 * 6);
}

#[test]
fn backend_kind_of_the_device_key() {
    assert_eq!(BackendKind::of("cpu"), BackendKind::Cpu);
    assert_eq!(BackendKind::of("wgpu"), BackendKind::Gpu);
    assert_eq!(BackendKind::of("wgpu:1"), BackendKind::Gpu);
    assert_eq!(BackendKind::of("cuda:0"), BackendKind::Gpu);
}

#[test]
fn reference_kinds() {
    let bytes = |bf16, r| estimate(&inputs(bf16, r, 1)).reference;
    assert_eq!(bytes(true, ReferencePlan::Frozen), 2 * 340);
    assert_eq!(bytes(true, ReferencePlan::FrozenLogits), 2 * 340);
    assert_eq!(
        bytes(true, ReferencePlan::Moving),
        4 * 340,
        "TR-DPO keeps f32"
    );
    assert_eq!(
        bytes(true, ReferencePlan::Precomputed { pairs: Some(1000) }),
        8000
    );
    assert_eq!(
        bytes(false, ReferencePlan::Precomputed { pairs: None }),
        8 * NOMINAL_PAIRS
    );
}

#[test]
fn sizes_parse() {
    assert_eq!(parse_size("80GiB"), Some(80 << 30));
    assert_eq!(parse_size("141GB"), Some(141_000_000_000));
    assert_eq!(parse_size(" 512 MiB "), Some(512 << 20));
    assert_eq!(parse_size("1.5TiB"), Some(3 << 39));
    assert_eq!(parse_size("4096"), Some(4096));
    assert_eq!(parse_size("80 gigs"), None);
    assert_eq!(parse_size("GiB"), None);
    assert_eq!(parse_size("0GiB"), None);
}

/// `count_params` against the parameter counts torch reported for the committed
/// fixtures (`sum(p.numel() for p in model.parameters())`, tests/data/arch/README.md) and
/// the golden Llama's safetensors (the sum of its tensors' elements; untied, so every
/// parameter is stored once).
#[test]
fn parameter_counts_match_torch() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
    for (dir, torch) in [
        ("arch/gemma2", 214_080),
        ("arch/gemma3", 313_280),
        ("arch/qwen2", 155_456),
        ("arch/mistral", 171_456),
    ] {
        let cfg = ModelConfig::from_file(&root.join(dir).join("config.json")).unwrap();
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(dir).join("expected.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(expected["num_params"].as_u64(), Some(torch), "{dir}");
        assert_eq!(count_params(&cfg) as u64, torch, "{dir}");
        assert_eq!(ModelShape::of(&cfg).params, torch, "{dir}");
    }
    let golden = root.join("golden/policy");
    let cfg = ModelConfig::from_file(&golden.join("config.json")).unwrap();
    assert!(
        !cfg.tie_word_embeddings,
        "every parameter is a stored tensor"
    );
    assert_eq!(
        count_params(&cfg) as u64,
        safetensors_elements(&golden.join("model.safetensors"))
    );
}

/// Σ over the tensors of a safetensors file of the product of their shapes, from the
/// header alone (u64 little-endian length, then JSON).
fn safetensors_elements(path: &std::path::Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(_, v)| {
            v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .product::<u64>()
        })
        .sum()
}
