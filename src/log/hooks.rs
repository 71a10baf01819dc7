//! Scheduling hooks for deterministic interleaving tests (the `testing` feature only; the
//! default build has no hook points at all).
//!
//! A test installs a hook on its own thread with [`on_this_thread`]; the shard log calls it
//! at the named [`HookPoint`]s it passes in that thread. The hook may call back into the log
//! (trim it, append to it): that is how a test places another operation at an exact point
//! inside a read, deterministically, without threads or sleeps.

use std::cell::RefCell;

/// A point in the shard log's code where a test may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookPoint {
    /// A read has fixed its view of the log: the trim horizon and the segments it will walk.
    ReadViewTaken,
    /// The last handle of a log is being dropped: the log is about to close.
    LastHandleDropped,
}

type Hook = Box<dyn FnMut(HookPoint)>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Run `hook` at every hook point reached on this thread until the returned guard is dropped.
/// A hook point reached while the hook runs (the hook calling into the log) does not call it
/// again.
pub fn on_this_thread(hook: impl FnMut(HookPoint) + 'static) -> HookGuard {
    HOOK.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
    HookGuard(())
}

/// Removes the thread's hook when dropped.
#[derive(Debug)]
pub struct HookGuard(());

impl Drop for HookGuard {
    fn drop(&mut self) {
        HOOK.with(|h| h.borrow_mut().take());
    }
}

/// Called by the log at `point`.
pub(crate) fn reached(point: HookPoint) {
    let hook = HOOK.with(|h| h.borrow_mut().take());
    if let Some(mut hook) = hook {
        hook(point);
        HOOK.with(|h| {
            let mut slot = h.borrow_mut();
            if slot.is_none() {
                *slot = Some(hook);
            }
        });
    }
}
