//! The order pairs are visited in an epoch: file order, or a permutation seeded by the run
//! seed and the epoch alone (so a resumed run, or another machine, visits the same order);
//! optionally grouped by length as transformers' `LengthGroupedSampler` does it, to cut padding.
//!
//! Grouping (`get_length_grouped_indices`): the permuted indices are cut into mega-batches of
//! `min(n / (4·batch_size), 50)·batch_size` pairs (at least one batch), each sorted longest
//! first, and the mega-batch holding the longest pair is swapped to the front so that an
//! out-of-memory shows in the first step, not hours in.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// The visiting order of `lengths.len()` pairs in `epoch`.
pub fn epoch_order(
    lengths: &[usize],
    seed: u64,
    epoch: u64,
    shuffle: bool,
    group_by_length: Option<usize>,
) -> Vec<usize> {
    let n = lengths.len();
    let mut idx: Vec<usize> = (0..n).collect();
    if shuffle {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(epoch);
        idx.shuffle(&mut rng);
    }
    let Some(batch) = group_by_length.filter(|_| n > 0) else {
        return idx;
    };
    let batch = batch.max(1);
    let mult = (n / (batch * 4)).clamp(1, 50);
    let mega = mult * batch;
    let mut groups: Vec<Vec<usize>> = idx.chunks(mega).map(<[usize]>::to_vec).collect();
    for g in &mut groups {
        // Stable: equal lengths keep their (seeded) order.
        g.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    }
    let firsts: Vec<usize> = groups.iter().map(|g| lengths[g[0]]).collect();
    // The first maximum, as torch.argmax returns it.
    let longest = firsts
        .iter()
        .enumerate()
        .fold(0, |best, (i, &l)| if l > firsts[best] { i } else { best });
    if longest != 0 {
        let (a, b) = (groups[0][0], groups[longest][0]);
        groups[0][0] = b;
        groups[longest][0] = a;
    }
    groups.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_permutations() {
        let lengths = vec![1; 100];
        assert_eq!(
            epoch_order(&lengths, 7, 0, false, None),
            (0..100).collect::<Vec<_>>()
        );
        let a = epoch_order(&lengths, 7, 0, true, None);
        assert_eq!(
            a,
            epoch_order(&lengths, 7, 0, true, None),
            "same seed, same order"
        );
        assert_ne!(a, epoch_order(&lengths, 7, 1, true, None), "epochs differ");
        assert_ne!(a, epoch_order(&lengths, 8, 0, true, None), "seeds differ");
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(s, (0..100).collect::<Vec<_>>(), "a permutation");
        assert!(epoch_order(&[], 1, 0, true, Some(4)).is_empty());
    }

    #[test]
    fn grouping_sorts_inside_mega_batches_and_puts_the_longest_first() {
        // 40 pairs, batch 2: mega-batches of min(40/8, 50)·2 = 10.
        let lengths: Vec<usize> = (0..40).map(|i| (i * 7) % 40).collect();
        let order = epoch_order(&lengths, 3, 0, true, Some(2));
        let mut s = order.clone();
        s.sort_unstable();
        assert_eq!(s, (0..40).collect::<Vec<_>>());
        assert_eq!(lengths[order[0]], 39, "the longest pair comes first");
        for (g, chunk) in order.chunks(10).enumerate() {
            let l: Vec<usize> = chunk.iter().map(|&i| lengths[i]).collect();
            let tail = if g == 0 { &l[1..] } else { &l[..] };
            let body = if g == 0 { tail } else { &tail[1..] };
            assert!(body.windows(2).all(|w| w[0] >= w[1]), "group {g}: {l:?}");
        }
    }
}
