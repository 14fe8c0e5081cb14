//! prefzoo patch: element-wise kernels spread over the rayon pool.
//!
//! Upstream flex 0.22.1 runs matmul, reductions, softmax and attention on rayon, but every
//! unary, binary, scalar and broadcast (zip) kernel on the calling thread. In an autodiff
//! training step those kernels are most of the non-GEMM time, so on two cores the step used
//! ~1.2 of them. The helpers here split a large buffer into contiguous chunks and run the
//! unchanged per-element loop on each chunk in parallel. Each element is computed by the same
//! function of the same inputs as before (the SIMD kernels are IEEE add/sub/mul/div, equal to
//! their scalar tails), so results are bit-identical to upstream's whatever the thread count
//! (prefzoo's `tests/it/threads.rs` checks it). Only buffers of at least [`PAR_MIN_ELEMS`]
//! elements are split.

use alloc::vec::Vec;
use core::mem::MaybeUninit;

/// Buffers below this many elements stay on the calling thread: splitting them costs more
/// than it saves (a rayon fork-join is a few microseconds; 32K f32 adds take about as long).
pub(crate) const PAR_MIN_ELEMS: usize = 1 << 15;

/// The chunk length for `n` elements, or `None` when `n` is not worth splitting.
#[inline]
pub(crate) fn chunk_len(n: usize) -> Option<usize> {
    #[cfg(feature = "rayon")]
    {
        if n < PAR_MIN_ELEMS {
            return None;
        }
        let threads = rayon::current_num_threads();
        if threads < 2 {
            return None;
        }
        // A few chunks per thread so an uneven split still balances; each at least half the
        // threshold and a multiple of 64 elements.
        let per = n.div_ceil(threads * 4).max(PAR_MIN_ELEMS / 2);
        Some(per.div_ceil(64) * 64)
    }
    #[cfg(not(feature = "rayon"))]
    {
        let _ = n;
        None
    }
}

/// Runs `f` on `data`, split into chunks processed in parallel when large enough.
#[inline]
pub(crate) fn for_chunks_mut<E, F>(data: &mut [E], f: F)
where
    E: Send,
    F: Fn(&mut [E]) + Sync + Send,
{
    #[cfg(feature = "rayon")]
    if let Some(chunk) = chunk_len(data.len()) {
        use rayon::prelude::*;
        data.par_chunks_mut(chunk).for_each(|c| f(c));
        return;
    }
    f(data)
}

/// Runs `f` on matching chunks of `dst` and `src` (same length), in parallel when large enough.
#[inline]
pub(crate) fn zip_chunks_mut<D, S, F>(dst: &mut [D], src: &[S], f: F)
where
    D: Send,
    S: Sync,
    F: Fn(&mut [D], &[S]) + Sync + Send,
{
    debug_assert_eq!(dst.len(), src.len());
    #[cfg(feature = "rayon")]
    if let Some(chunk) = chunk_len(dst.len()) {
        use rayon::prelude::*;
        dst.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(d, s)| f(d, s));
        return;
    }
    f(dst, src)
}

/// `src.iter().map(op).collect()`, computed in parallel chunks when large enough.
#[inline]
pub(crate) fn map_collect<S, O, F>(src: &[S], op: F) -> Vec<O>
where
    S: Copy + Sync,
    O: Send,
    F: Fn(S) -> O + Sync + Send,
{
    let n = src.len();
    let mut out: Vec<O> = Vec::with_capacity(n);
    zip_chunks_mut(&mut out.spare_capacity_mut()[..n], src, |d, s| {
        for (d, &s) in d.iter_mut().zip(s) {
            d.write(op(s));
        }
    });
    // SAFETY: every one of the `n` slots was written above (the chunks cover the buffer).
    unsafe { out.set_len(n) };
    out
}

/// `a.iter().zip(b).map(op).collect()` (same lengths), in parallel chunks when large enough.
#[inline]
pub(crate) fn zip_collect<A, B, O, F>(a: &[A], b: &[B], op: F) -> Vec<O>
where
    A: Copy + Sync,
    B: Copy + Sync,
    O: Send,
    F: Fn(A, B) -> O + Sync + Send,
{
    let n = a.len();
    debug_assert_eq!(n, b.len());
    let mut out: Vec<O> = Vec::with_capacity(n);
    let f = |range: core::ops::Range<usize>, d: &mut [MaybeUninit<O>]| {
        for (d, (&x, &y)) in d.iter_mut().zip(a[range.clone()].iter().zip(&b[range])) {
            d.write(op(x, y));
        }
    };
    #[cfg(feature = "rayon")]
    if let Some(chunk) = chunk_len(n) {
        use rayon::prelude::*;
        out.spare_capacity_mut()[..n]
            .par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, d)| f(i * chunk..i * chunk + d.len(), d));
        // SAFETY: the chunks cover all `n` slots and each was written.
        unsafe { out.set_len(n) };
        return out;
    }
    f(0..n, &mut out.spare_capacity_mut()[..n]);
    // SAFETY: all `n` slots were written.
    unsafe { out.set_len(n) };
    out
}

/// Calls `f(run, first_output_index)` for runs `0..runs` of `len` outputs each, in parallel
/// groups of consecutive runs when `runs * len` is large enough. `f` receives the run index.
#[inline]
pub(crate) fn for_runs_mut<O, F>(out: &mut [O], len: usize, f: F)
where
    O: Send,
    F: Fn(usize, &mut [O]) + Sync + Send,
{
    if len == 0 {
        return;
    }
    let runs = out.len() / len;
    debug_assert_eq!(runs * len, out.len());
    #[cfg(feature = "rayon")]
    if let Some(chunk) = chunk_len(out.len()) {
        use rayon::prelude::*;
        let per = chunk.div_ceil(len).max(1);
        out.par_chunks_mut(per * len)
            .enumerate()
            .for_each(|(g, group)| {
                for (i, run) in group.chunks_mut(len).enumerate() {
                    f(g * per + i, run);
                }
            });
        return;
    }
    for (i, run) in out.chunks_mut(len).enumerate() {
        f(i, run);
    }
}
