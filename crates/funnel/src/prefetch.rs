//! Scans that ask the processor for each deal's history a few deals before they read it.
//!
//! A deal's steps and amounts are heap allocations of their own, so a scan that folds one
//! deal after another waits for main memory at every deal: in the funnel over 60,000 deals
//! that wait was most of the time (docs/performance.md). A prefetch hint for the deals a
//! little ahead lets those loads run while the current deal is folded.

use std::collections::VecDeque;

use crate::model::Deal;

/// How many deals ahead of the one handed out the hints are given: enough to cover a load
/// from memory with the work of folding the deals in between.
const AHEAD: usize = 16;

/// Cache lines of one list that are hinted, at most: most deals' steps fit in these.
const LINES: usize = 4;

/// `deals` in the same order, in two stages: each deal itself is hinted 2 × [`AHEAD`]
/// deals before it is handed out, and its steps and amounts (whose addresses are in the
/// deal, read once it has arrived) [`AHEAD`] deals before.
pub(crate) fn prefetched<'a>(
    deals: impl Iterator<Item = &'a Deal>,
) -> impl Iterator<Item = &'a Deal> {
    let mut deals = deals.fuse();
    let mut arriving: VecDeque<&Deal> = VecDeque::with_capacity(AHEAD);
    let mut ready: VecDeque<&Deal> = VecDeque::with_capacity(AHEAD);
    std::iter::from_fn(move || {
        while arriving.len() < AHEAD {
            let Some(deal) = deals.next() else { break };
            hint(std::slice::from_ref(deal));
            arriving.push_back(deal);
        }
        while ready.len() < AHEAD {
            let Some(deal) = arriving.pop_front() else {
                break;
            };
            hint(deal.steps.as_slice());
            let amounts = deal.amounts.0.as_slice();
            hint(&amounts[amounts.len().saturating_sub(1)..]);
            ready.push_back(deal);
        }
        ready.pop_front()
    })
}

/// Hints the first [`LINES`] cache lines of `items`.
fn hint<T>(items: &[T]) {
    let bytes = std::mem::size_of_val(items).min(LINES * 64);
    let start = items.as_ptr().cast::<i8>();
    for offset in (0..bytes).step_by(64) {
        line(start.wrapping_add(offset));
    }
}

#[cfg(target_arch = "x86_64")]
fn line(address: *const i8) {
    // SAFETY: the instruction needs SSE, which every x86_64 processor has (it is in the
    // target's baseline); and a prefetch is a hint that never faults or reads into the
    // program, whatever the address.
    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address) };
}

#[cfg(not(target_arch = "x86_64"))]
fn line(_address: *const i8) {}
