//! Packed batches: the sequences of a batch laid end to end in one row with no padding, and
//! sequences that continue one prompt (a preference pair's chosen and rejected) holding that
//! prompt once. This is how every log-prob in prefzoo is computed: the cost follows the
//! useful tokens, not the longest row times the number of rows.
//!
//! A **segment** is a prefix followed by zero or more **branches**. A branch token attends to
//! the whole prefix and to the earlier tokens of its own branch, never to another branch, and
//! positions restart at the prefix's end in every branch: each branch sees exactly the
//! sequence `prefix ++ branch` it would see alone (Wang & Hegde 2024, "Accelerating Direct
//! Preference Optimization with Prefix Sharing"). A plain sequence is a segment without
//! branches.
//!
//! ```text
//! tokens   [ p0 p1 p2 | c0 c1 | r0 r1 r2 ][ q0 q1 | d0 | e0 e1 ] ...      one row of N tokens
//! position   0  1  2    3  4    3  4  5     0  1    2    2  3
//! r1 sees    p0 p1 p2             r0 r1                                    (never c0, c1)
//! ```
//!
//! The decoder's linear layers run over the N tokens as one row. Attention runs per segment:
//! the segments are gathered into `[S, L]` (L = the longest segment; equal-length segments
//! need no gather), each with its own mask, and scattered back — so attention costs
//! `S · L²`, not `N²`, and no token ever sees another segment.
//!
//! What is scored is a list of **entries** `(from, label, slot)`: the hidden state at flat
//! index `from` predicts token `label`, whose log-prob is added to output `slot`. Token `t` of
//! a sequence is predicted at `t − 1`; a branch's first token is predicted by the prefix's last
//! token, so that position is scored once per branch. Only entries are projected through the
//! lm_head.

use burn::prelude::*;
use burn::tensor::Bool;

use crate::error::{ModelError, Result};

/// One continuation of a shared prefix ([`PackedBatch::push_shared`]).
#[derive(Debug, Clone, Copy)]
pub struct Branch<'a> {
    /// The continuation's tokens.
    pub ids: &'a [u32],
    /// Which of them count (`counted[j]` for `ids[j]`); same length as `ids`.
    pub counted: &'a [bool],
    /// The output the counted tokens' log-probs are summed into.
    pub slot: usize,
}

/// A prefix and its branches, laid out at `start` (see the module docs).
#[derive(Debug, Clone)]
struct Segment {
    start: usize,
    prefix: usize,
    branches: Vec<usize>,
}

impl Segment {
    fn len(&self) -> usize {
        self.prefix + self.branches.iter().sum::<usize>()
    }

    /// Which part local token `i` belongs to: 0 = prefix, `b + 1` = branch `b`.
    fn part(&self, i: usize) -> usize {
        if i < self.prefix {
            return 0;
        }
        let mut end = self.prefix;
        for (b, &len) in self.branches.iter().enumerate() {
            end += len;
            if i < end {
                return b + 1;
            }
        }
        unreachable!("token {i} lies past the segment's end")
    }
}

/// One scored token: the hidden state at flat index `from` predicts `label`, added to `slot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) from: usize,
    pub(crate) label: u32,
    pub(crate) slot: usize,
}

/// Sequences packed into one row, with prefix sharing (see the module docs).
#[derive(Debug, Clone)]
pub struct PackedBatch {
    ids: Vec<u32>,
    positions: Vec<usize>,
    segments: Vec<Segment>,
    entries: Vec<Entry>,
    slots: usize,
    sequences: usize,
    /// The segment the last push added (`None`: it added none, nothing counted).
    last: Option<usize>,
}

impl PackedBatch {
    /// An empty batch whose log-probs go to `slots` outputs.
    pub fn new(slots: usize) -> Self {
        Self {
            ids: Vec::new(),
            positions: Vec::new(),
            segments: Vec::new(),
            entries: Vec::new(),
            slots,
            sequences: 0,
            last: None,
        }
    }

    fn check_slot(&self, slot: usize) -> Result<()> {
        if slot >= self.slots {
            return Err(ModelError::arg(
                "slot",
                format!(
                    "{slot} is out of range: the batch has {} outputs",
                    self.slots
                ),
            ));
        }
        Ok(())
    }

    /// Adds one sequence whose tokens `t ≥ 1` with `counted[t]` are scored into `slot`
    /// (token 0 has no predecessor and never counts). Tokens after the last counted one
    /// cannot change any score (attention is causal) and are left out.
    ///
    /// # Errors
    /// `ids` and `counted` of different lengths, or `slot` out of range.
    pub fn push_sequence(&mut self, ids: &[u32], counted: &[bool], slot: usize) -> Result<()> {
        if ids.len() != counted.len() {
            return Err(ModelError::arg(
                "counted",
                format!("length {} differs from ids' {}", counted.len(), ids.len()),
            ));
        }
        self.check_slot(slot)?;
        self.sequences += 1;
        self.last = None;
        let Some(last) = (1..ids.len()).rev().find(|&t| counted[t]) else {
            return Ok(());
        };
        let start = self.ids.len();
        for t in 1..=last {
            if counted[t] {
                self.entries.push(Entry {
                    from: start + t - 1,
                    label: ids[t],
                    slot,
                });
            }
        }
        self.ids.extend_from_slice(&ids[..=last]);
        self.positions.extend(0..=last);
        self.last = Some(self.segments.len());
        self.segments.push(Segment {
            start,
            prefix: last + 1,
            branches: Vec::new(),
        });
        Ok(())
    }

    /// Adds a prefix shared by several continuations: branch `b`'s counted tokens are scored
    /// into `branches[b].slot`, each as if `prefix ++ branch` were a sequence of its own. The
    /// prefix's tokens are not scored; a branch's first token is predicted by the prefix's
    /// last (and cannot count when the prefix is empty).
    ///
    /// # Errors
    /// A branch whose `ids` and `counted` differ in length, or a slot out of range.
    pub fn push_shared(&mut self, prefix: &[u32], branches: &[Branch<'_>]) -> Result<()> {
        for b in branches {
            if b.ids.len() != b.counted.len() {
                return Err(ModelError::arg(
                    "counted",
                    format!(
                        "length {} differs from ids' {}",
                        b.counted.len(),
                        b.ids.len()
                    ),
                ));
            }
            self.check_slot(b.slot)?;
        }
        self.sequences += branches.len().max(1);
        self.last = None;
        let start = self.ids.len();
        let p = prefix.len();
        self.ids.extend_from_slice(prefix);
        self.positions.extend(0..p);
        let mut lens = Vec::with_capacity(branches.len());
        for b in branches {
            let at = self.ids.len();
            for (j, (&id, &counted)) in b.ids.iter().zip(b.counted).enumerate() {
                let from = match (j, p) {
                    (0, 0) => None,
                    (0, _) => Some(start + p - 1),
                    _ => Some(at + j - 1),
                };
                if let (true, Some(from)) = (counted, from) {
                    self.entries.push(Entry {
                        from,
                        label: id,
                        slot: b.slot,
                    });
                }
            }
            self.ids.extend_from_slice(b.ids);
            self.positions.extend(p..p + b.ids.len());
            lens.push(b.ids.len());
        }
        if self.ids.len() > start {
            self.last = Some(self.segments.len());
            self.segments.push(Segment {
                start,
                prefix: p,
                branches: lens,
            });
        }
        Ok(())
    }

    /// Also scores the first `tokens` tokens of the segment the last push added — its prompt — into
    /// `slot`: token `t` in `1..tokens`, predicted by token `t − 1` (ORPO's NLL as trl 0.13
    /// computes it covers the prompt). They must lie in the segment's prefix (a shared
    /// prompt, or a sequence's leading tokens).
    ///
    /// # Errors
    /// No segment yet, a prefix shorter than `tokens`, or `slot` out of range.
    pub fn score_prefix(&mut self, tokens: usize, slot: usize) -> Result<()> {
        self.check_slot(slot)?;
        let Some(g) = self.last.map(|k| &self.segments[k]) else {
            return Err(ModelError::arg(
                "tokens",
                "the last push added no segment (nothing in it counted) to score a prefix of"
                    .to_owned(),
            ));
        };
        if tokens > g.prefix {
            return Err(ModelError::arg(
                "tokens",
                format!(
                    "{tokens} prompt tokens asked for, the last segment's prefix has {}",
                    g.prefix
                ),
            ));
        }
        let start = g.start;
        for t in 1..tokens {
            self.entries.push(Entry {
                from: start + t - 1,
                label: self.ids[start + t],
                slot,
            });
        }
        Ok(())
    }

    /// Tokens in the row (what the decoder's linear layers process).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the row holds no token.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of outputs.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Number of scored tokens (what the lm_head projects).
    pub fn n_scored(&self) -> usize {
        self.entries.len()
    }

    /// Number of sequences pushed (a shared prefix counts once per branch).
    pub fn n_sequences(&self) -> usize {
        self.sequences
    }

    /// The row's token ids.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Counted tokens per slot.
    pub(crate) fn tokens_per_slot(&self) -> Vec<f32> {
        let mut n = vec![0.0; self.slots];
        for e in &self.entries {
            n[e.slot] += 1.0;
        }
        n
    }

    /// How attention runs over the segments (see [`AttentionPlan`]).
    pub(crate) fn attention_plan(&self) -> AttentionPlan {
        let mut order: Vec<usize> = (0..self.segments.len()).collect();
        // Longest first; a stable sort keeps equal lengths in row order.
        order.sort_by_key(|&k| std::cmp::Reverse(self.segments[k].len()));
        let mut buckets: Vec<BucketPlan> = Vec::new();
        for k in order {
            let len = self.segments[k].len();
            match buckets.last_mut() {
                Some(b) if len * 5 >= b.len * 4 || b.len <= SMALL_SEGMENT => b.segments.push(k),
                _ => buckets.push(BucketPlan {
                    segments: vec![k],
                    len,
                    to: None,
                    positions: Vec::new(),
                }),
            }
        }
        let identity = buckets.len() == 1
            && buckets[0].segments.iter().enumerate().all(|(i, &k)| i == k)
            && self.segments.iter().all(|g| g.len() == buckets[0].len);
        let mut from = vec![0i64; self.ids.len()];
        let mut base = 0;
        for b in &mut buckets {
            let mut to = Vec::with_capacity(b.segments.len() * b.len);
            for (slot, &k) in b.segments.iter().enumerate() {
                let g = &self.segments[k];
                let n = g.len();
                b.positions
                    .extend_from_slice(&self.positions[g.start..g.start + n]);
                b.positions.extend(std::iter::repeat_n(0, b.len - n));
                for i in 0..b.len {
                    to.push((g.start + i.min(n - 1)) as i64);
                }
                for i in 0..n {
                    from[g.start + i] = (base + slot * b.len + i) as i64;
                }
            }
            base += b.segments.len() * b.len;
            b.to = (!identity).then_some(to);
        }
        AttentionPlan {
            from: (!identity).then_some(from),
            branched: self.segments.iter().any(|g| !g.branches.is_empty()),
            buckets,
        }
    }

    /// The attention mask `[S_b, 1, L_b, L_b]` (`true` = masked) of a bucket: prefix/branch
    /// visibility, causality and, with a `window`, keys `window` or more positions back.
    /// A pad query sees only itself, so no row is all masked.
    pub(crate) fn mask(
        &self,
        bucket: &BucketPlan,
        window: Option<usize>,
        device: &Device,
    ) -> Tensor<4, Bool> {
        let (s, l) = (bucket.segments.len(), bucket.len);
        let window = window.unwrap_or(usize::MAX);
        let mut mask = Vec::with_capacity(s * l * l);
        for &k in &bucket.segments {
            let g = &self.segments[k];
            let n = g.len();
            let parts: Vec<usize> = (0..n).map(|i| g.part(i)).collect();
            let pos = &self.positions[g.start..g.start + n];
            for i in 0..l {
                for j in 0..l {
                    let visible = if i >= n || j >= n {
                        i == j
                    } else {
                        j <= i
                            && (parts[j] == 0 || parts[j] == parts[i])
                            && pos[i] - pos[j] < window
                    };
                    mask.push(!visible);
                }
            }
        }
        Tensor::from_data(TensorData::new(mask, [s, 1, l, l]), device)
    }
}

/// Segments at most this long share one attention bucket whatever their lengths: padding them
/// costs less than another round of per-bucket ops.
const SMALL_SEGMENT: usize = 64;

/// One attention call: segments of similar length padded to the longest, `L`.
#[derive(Debug, Clone)]
pub(crate) struct BucketPlan {
    /// Which segments, in the bucket's order.
    pub(crate) segments: Vec<usize>,
    /// `L`: the longest segment's length.
    pub(crate) len: usize,
    /// `to[s·L + i]`: the flat index of the bucket's segment `s`'s token `i` (its last token
    /// for pad slots); `None` when the row already is `[S, L]` in order.
    pub(crate) to: Option<Vec<i64>>,
    /// Positions in the padded layout `[S · L]` (0 at pad slots).
    pub(crate) positions: Vec<usize>,
}

/// How attention runs over a packed row: segments sorted by length and grouped into buckets
/// whose lengths differ by at most 25 % (padding wastes at most ~1.6× a segment's own
/// `len²` attention cost, instead of padding everything to the longest), each bucket one
/// `[S_b, heads, L_b, L_b]` attention, the outputs scattered back to the row.
#[derive(Debug, Clone)]
pub(crate) struct AttentionPlan {
    /// `from[t]`: where flat token `t` sits in the buckets' outputs laid end to end; `None`
    /// for the identity (one bucket of equal-length segments in row order).
    pub(crate) from: Option<Vec<i64>>,
    /// Whether any segment has branches (plain causal masking is then not enough).
    pub(crate) branched: bool,
    /// The buckets, longest first.
    pub(crate) buckets: Vec<BucketPlan>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_layout_positions_entries_and_mask() {
        let mut b = PackedBatch::new(3);
        b.push_shared(
            &[10, 11, 12],
            &[
                Branch {
                    ids: &[20, 21],
                    counted: &[true, true],
                    slot: 0,
                },
                Branch {
                    ids: &[30, 31, 32],
                    counted: &[true, true, false],
                    slot: 2,
                },
            ],
        )
        .unwrap();
        b.push_sequence(&[5, 6, 7, 8], &[false, true, true, false], 1)
            .unwrap();
        assert_eq!(b.ids(), &[10, 11, 12, 20, 21, 30, 31, 32, 5, 6, 7]);
        assert_eq!(b.positions, [0, 1, 2, 3, 4, 3, 4, 5, 0, 1, 2]);
        let e = |from, label, slot| Entry { from, label, slot };
        assert_eq!(
            b.entries(),
            &[
                e(2, 20, 0),
                e(3, 21, 0),
                e(2, 30, 2),
                e(5, 31, 2),
                e(8, 6, 1),
                e(9, 7, 1)
            ]
        );
        assert_eq!(b.tokens_per_slot(), [2.0, 2.0, 2.0]);
        assert_eq!(b.n_sequences(), 3);
        let dev = Device::flex();
        let plan = b.attention_plan();
        assert_eq!(plan.buckets.len(), 1, "short segments share a bucket");
        let bucket = &plan.buckets[0];
        assert_eq!((bucket.segments.as_slice(), bucket.len), (&[0, 1][..], 8));
        assert_eq!(&bucket.positions[8..], &[0, 1, 2, 0, 0, 0, 0, 0]);
        let m: Vec<bool> = b.mask(bucket, None, &dev).into_data().try_to_vec().unwrap();
        let (l, seg0) = (8, 0);
        let masked = |s: usize, i: usize, j: usize| m[s * l * l + i * l + j];
        // r1 (local 6) sees the prefix and r0, r1; never c0, c1.
        let row: Vec<bool> = (0..l).map(|j| masked(seg0, 6, j)).collect();
        assert_eq!(row, [false, false, false, true, true, false, false, true]);
        // c1 (local 4) sees prefix, c0, c1.
        let row: Vec<bool> = (0..l).map(|j| masked(seg0, 4, j)).collect();
        assert_eq!(row, [false, false, false, false, false, true, true, true]);
        // Segment 1 has 3 tokens: its pad query 5 sees only itself.
        let row: Vec<bool> = (0..l).map(|j| masked(1, 5, j)).collect();
        assert_eq!(row, [true, true, true, true, true, false, true, true]);
        // A window of 2 positions: r1 (position 4) sees position 3 (r0) and 4 only.
        let m: Vec<bool> = b
            .mask(bucket, Some(2), &dev)
            .into_data()
            .try_to_vec()
            .unwrap();
        let row: Vec<bool> = (0..l).map(|j| m[6 * l + j]).collect();
        assert_eq!(row, [true, true, true, true, true, false, false, true]);
        // Flat token t sits at from[t] of the bucket's [S·L] layout, and to inverts it.
        let (from, to) = (plan.from.unwrap(), bucket.to.clone().unwrap());
        for (t, &f) in from.iter().enumerate() {
            assert_eq!(to[f as usize], t as i64);
        }
    }

    #[test]
    fn buckets_group_similar_lengths_longest_first() {
        let mut b = PackedBatch::new(6);
        for (slot, len) in [(0, 300usize), (1, 100), (2, 250), (3, 280), (4, 40), (5, 9)] {
            let ids = vec![1u32; len];
            let mut counted = vec![false; len];
            counted[len - 1] = true;
            b.push_sequence(&ids, &counted, slot).unwrap();
        }
        let plan = b.attention_plan();
        let groups: Vec<(Vec<usize>, usize)> = plan
            .buckets
            .iter()
            .map(|g| (g.segments.clone(), g.len))
            .collect();
        // 280 and 250 are within 25 % of 300; 100 is not, nor is 40 of 100; 9 joins 40, a
        // bucket of short segments (≤ 64) whatever their lengths.
        assert_eq!(
            groups,
            [(vec![0, 3, 2], 300), (vec![1], 100), (vec![4, 5], 40)],
            "{groups:?}"
        );
        let (from, n) = (plan.from.unwrap(), b.len());
        let laid: usize = plan.buckets.iter().map(|g| g.segments.len() * g.len).sum();
        let mut seen = vec![false; laid];
        for &f in &from {
            assert!(!seen[f as usize], "two tokens in one slot");
            seen[f as usize] = true;
        }
        assert_eq!(from.len(), n);
        // Equal lengths in row order need no gather at all.
        let mut u = PackedBatch::new(2);
        u.push_sequence(&[1, 2, 3], &[false, true, true], 0)
            .unwrap();
        u.push_sequence(&[4, 5, 6], &[false, true, true], 1)
            .unwrap();
        let plan = u.attention_plan();
        assert!(plan.from.is_none() && plan.buckets[0].to.is_none());
    }

    #[test]
    fn trailing_uncounted_tokens_and_bad_input() {
        let mut b = PackedBatch::new(1);
        b.push_sequence(&[1, 2, 3], &[false, false, false], 0)
            .unwrap();
        assert!(b.is_empty(), "nothing counts: nothing to compute");
        let err = b.push_sequence(&[1, 2], &[true], 0).unwrap_err();
        assert!(err.to_string().contains("differs"), "{err}");
        let err = b.push_sequence(&[1, 2], &[false, true], 3).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        // An empty prefix: the branches' first tokens cannot be scored.
        b.push_shared(
            &[],
            &[Branch {
                ids: &[4, 5],
                counted: &[true, true],
                slot: 0,
            }],
        )
        .unwrap();
        assert_eq!(b.entries().len(), 1);
    }
}
