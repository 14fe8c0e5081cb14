//! Packed rows with sliding-window attention and soft-capping on the GPU backend, for every
//! architecture family: the arch fixtures' padded batch (Mistral: a window of 6, smaller than
//! the sequences; Gemma 2: windows on even layers, attention and final-logit soft-caps; Gemma 3:
//! q/k norms, local and global RoPE; Qwen2: q/k/v biases) scored through `sequence_logps`, which
//! packs the rows into one unpadded row with per-segment masks, against transformers' summed
//! log-probs (tests/data/arch/*/expected.json; the CPU suite's 2e-3) and against the CPU
//! backend (5e-4: sums of up to ~20 tokens of f32 log-softmax in another reduction order,
//! observed well below; see the printout). ε-DPO's perturbed log-probs take the same path,
//! with the model as its own reference: at ε ≠ 0 they must equal the policy's up to rounding.

use burn::prelude::*;
use burn::tensor::DType;
use prefzoo_model::{LogpsOptions, load_pretrained, sequence_logps};

use crate::common::*;

fn logps(name: &str, device: &Device) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let dir = root().join("tests/data/arch").join(name);
    let e = data_json(&format!("arch/{name}/expected.json"));
    let model = load_pretrained(&dir, device, DType::F32).unwrap();
    let rows: Vec<Vec<i64>> = e["padded_batch"]["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect()
        })
        .collect();
    let (r, t) = (rows.len(), rows[0].len());
    let mut mask = vec![0f32; r * t];
    for (i, seq) in e["sequences"].as_array().unwrap().iter().enumerate() {
        let plen = e["prompt_lengths"][i].as_u64().unwrap() as usize;
        mask[i * t + plen..i * t + seq.as_array().unwrap().len()].fill(1.0);
    }
    let flat: Vec<i64> = rows.into_iter().flatten().collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(flat, [r, t]), device);
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [r, t]), device);
    let opts = LogpsOptions {
        epsilon: Some(0.1),
        chunk_size: 3,
    };
    let out = sequence_logps(&model, Some(&model), input, mask, &opts).unwrap();
    let v = |t: Tensor<1>| t.into_data().try_into_vec_as::<f32>().unwrap();
    let perturbed = out.perturbed.unwrap();
    (v(out.policy), v(perturbed.p), v(perturbed.n))
}

#[test]
fn packed_logps_of_every_family_match_the_cpu_and_transformers() {
    let Some(gpu) = gpu() else { return };
    for name in ["mistral", "gemma2", "gemma3", "qwen2"] {
        let e = data_json(&format!("arch/{name}/expected.json"));
        let want: Vec<f64> = e["padded_batch"]["completion_logps"]
            .as_array()
            .unwrap()
            .iter()
            .map(f)
            .collect();
        let (dev, p, n) = logps(name, &gpu.device);
        let (cpu, _, _) = logps(name, &Device::flex());
        let mut max_cpu = 0f32;
        for i in 0..want.len() {
            let d_trf = (f64::from(dev[i]) - want[i]).abs();
            assert!(
                d_trf <= 2e-3,
                "{name} row {i}: {} vs transformers {}",
                dev[i],
                want[i]
            );
            let d_cpu = (dev[i] - cpu[i]).abs();
            max_cpu = max_cpu.max(d_cpu);
            assert!(
                d_cpu <= 5e-4,
                "{name} row {i}: {} vs cpu {}",
                dev[i],
                cpu[i]
            );
            // The model is its own reference: (1 ± ε)·f − ε·f = f, up to rounding.
            assert!(
                (p[i] - dev[i]).abs() <= 5e-4 && (n[i] - dev[i]).abs() <= 5e-4,
                "{name} row {i}: perturbed {} / {} vs {}",
                p[i],
                n[i],
                dev[i]
            );
        }
        eprintln!(
            "{}: {name} packed logps, max |Δ| vs cpu {max_cpu:.2e}",
            gpu.name
        );
    }
}
