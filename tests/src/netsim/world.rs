//! The simulated world — clock, executor, network, random source, trace —
//! kept in a `thread_local!`, because `Runtime::now()` and
//! `Runtime::spawn()` are static functions with no handle to pass around.
//! One simulation per thread at a time (each `#[test]` runs on its own
//! thread).

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;

use mconn::Instant;

use super::executor::Exec;
use super::net::Network;
use super::trace::Trace;
use super::NetConfig;
use crate::sim::Rng;

/// Everything one simulation owns.
pub(crate) struct World {
    pub(crate) config: NetConfig,
    pub(crate) clock: Cell<Instant>,
    /// The node the task being polled runs as.
    pub(crate) current: Cell<Option<IpAddr>>,
    /// A run call is in progress (runs do not nest).
    pub(crate) running: Cell<bool>,
    pub(crate) exec: RefCell<Exec>,
    pub(crate) net: RefCell<Network>,
    pub(crate) rng: RefCell<Rng>,
    pub(crate) trace: RefCell<Trace>,
}

thread_local! {
    static WORLD: RefCell<Option<Rc<World>>> = const { RefCell::new(None) };
}

impl World {
    pub(crate) fn new(config: NetConfig) -> Self {
        World {
            clock: Cell::new(Instant::ZERO),
            current: Cell::new(None),
            running: Cell::new(false),
            exec: RefCell::new(Exec::new()),
            net: RefCell::new(Network::new()),
            rng: RefCell::new(Rng::new(config.seed)),
            trace: RefCell::new(Trace::new(config.trace_capacity)),
            config,
        }
    }

    /// The simulated time.
    pub(crate) fn now(&self) -> Instant {
        self.clock.get()
    }

    /// The next 64 bits of the world's seeded random source.
    pub(crate) fn random(&self) -> u64 {
        self.rng.borrow_mut().next_u64()
    }
}

/// Installs `world` on this thread; panics if one is installed.
pub(crate) fn install(world: World) {
    WORLD.with(|w| {
        let mut w = w.borrow_mut();
        assert!(
            w.is_none(),
            "a netsim::Simulation already exists on this thread (one per thread)"
        );
        *w = Some(Rc::new(world));
    });
}

/// Removes this thread's world.
pub(crate) fn uninstall() -> Option<Rc<World>> {
    WORLD.with(|w| w.borrow_mut().take())
}

/// This thread's world; panics if there is none (a `Sim` runtime call made
/// outside a [`Simulation`](super::Simulation)).
pub(crate) fn world() -> Rc<World> {
    try_world().expect("netsim: no Simulation on this thread (create one with Simulation::new)")
}

/// This thread's world, if any (destructors may run after teardown).
pub(crate) fn try_world() -> Option<Rc<World>> {
    WORLD.with(|w| w.try_borrow().ok().and_then(|w| w.clone()))
}
