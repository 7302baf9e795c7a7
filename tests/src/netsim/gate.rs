//! [`Gate`]: a test-controlled barrier a reactor can wait on.

use std::future::poll_fn;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};

#[derive(Debug, Default)]
struct State {
    open: bool,
    waiters: Vec<Waker>,
}

/// A barrier the test opens and closes; [`wait`](Self::wait) completes
/// while it is open. Cheap to clone (a shared handle).
///
/// ```
/// use mconn_tests::netsim::{Gate, NetConfig, Simulation};
/// let sim = Simulation::new(NetConfig::new(1));
/// let gate = Gate::closed();
/// let passed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
/// let (g, p) = (gate.clone(), passed.clone());
/// sim.spawn(async move {
///     g.wait().await;
///     p.store(true, std::sync::atomic::Ordering::SeqCst);
/// });
/// sim.run_for(std::time::Duration::from_secs(1)).unwrap();
/// assert!(!passed.load(std::sync::atomic::Ordering::SeqCst));
/// gate.open();
/// sim.run_until(|| passed.load(std::sync::atomic::Ordering::SeqCst)).unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Gate(Arc<Mutex<State>>);

impl Gate {
    /// A closed gate.
    pub fn closed() -> Self {
        Gate::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Opens it: every waiter passes, and later waits pass at once.
    pub fn open(&self) {
        let waiters = self.with(|s| {
            s.open = true;
            std::mem::take(&mut s.waiters)
        });
        for w in waiters {
            w.wake();
        }
    }

    /// Closes it again.
    pub fn close(&self) {
        self.with(|s| s.open = false);
    }

    /// Whether it is open.
    pub fn is_open(&self) -> bool {
        self.with(|s| s.open)
    }

    /// Completes once the gate is open.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            self.with(|s| {
                if s.open {
                    return Poll::Ready(());
                }
                if !s.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    s.waiters.push(cx.waker().clone());
                }
                Poll::Pending
            })
        })
        .await
    }
}
