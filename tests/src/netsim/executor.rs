//! The deterministic executor: tasks polled one at a time from a FIFO ready
//! queue, timers in a map ordered by (deadline, sequence), and a clock that
//! jumps to the next timer when nothing is ready.
//!
//! Wakers are `Send + Sync` (an `Arc` pushing the task's id onto a
//! `Mutex<VecDeque>`), because the switch's futures are `Send`; the tasks
//! themselves never leave the thread that owns the simulation.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use mconn::Instant;

use super::world::{try_world, world, World};

/// A spawned task's future.
pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The ids of tasks that were woken, in wake order (shared with every waker).
#[derive(Default)]
pub(crate) struct ReadyQueue(Mutex<VecDeque<u64>>);

impl ReadyQueue {
    fn push(&self, id: u64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(id);
    }

    fn pop(&self) -> Option<u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A task's waker: queues the task once until it is polled again.
pub(crate) struct TaskWaker {
    id: u64,
    queued: AtomicBool,
    ready: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.ready.push(self.id);
        }
    }
}

struct Task {
    /// `None` while it is being polled.
    future: Option<TaskFuture>,
    /// The node it runs as (inherited from its spawner).
    node: Option<IpAddr>,
    waker: Arc<TaskWaker>,
}

/// The executor's state (inside the thread's [`World`]).
pub(crate) struct Exec {
    tasks: BTreeMap<u64, Task>,
    next_task: u64,
    timers: BTreeMap<(Instant, u64), Waker>,
    next_timer: u64,
    pub(crate) ready: Arc<ReadyQueue>,
    /// Task polls and clock jumps since the simulation began.
    pub(crate) steps: u64,
    /// Tasks spawned since the simulation began.
    pub(crate) spawned: u64,
}

impl Exec {
    pub(crate) fn new() -> Self {
        Exec {
            tasks: BTreeMap::new(),
            next_task: 0,
            timers: BTreeMap::new(),
            next_timer: 0,
            ready: Arc::new(ReadyQueue::default()),
            steps: 0,
            spawned: 0,
        }
    }

    fn add_task(&mut self, node: Option<IpAddr>, future: TaskFuture) {
        let id = self.next_task;
        self.next_task += 1;
        self.spawned += 1;
        let waker = Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(false),
            ready: self.ready.clone(),
        });
        waker.wake_by_ref();
        let task = Task {
            future: Some(future),
            node,
            waker,
        };
        self.tasks.insert(id, task);
    }

    /// Registers `waker` to be woken when the clock reaches `at`; returns
    /// the timer's key (for [`cancel_timer`](Self::cancel_timer)).
    pub(crate) fn add_timer(&mut self, at: Instant, waker: Waker) -> (Instant, u64) {
        let key = (at, self.next_timer);
        self.next_timer += 1;
        self.timers.insert(key, waker);
        key
    }

    pub(crate) fn cancel_timer(&mut self, key: (Instant, u64)) -> Option<Waker> {
        self.timers.remove(&key)
    }

    /// Live tasks.
    pub(crate) fn num_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Pending timers.
    pub(crate) fn num_timers(&self) -> usize {
        self.timers.len()
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    /// Takes out every task that runs as `node` (to be dropped by the caller
    /// outside any borrow).
    pub(crate) fn take_node_tasks(&mut self, node: IpAddr) -> Vec<TaskFuture> {
        let ids: Vec<u64> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.node == Some(node))
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.tasks.remove(&id).and_then(|t| t.future))
            .collect()
    }

    /// Takes out every task (teardown).
    pub(crate) fn take_all_tasks(&mut self) -> Vec<TaskFuture> {
        core::mem::take(&mut self.tasks)
            .into_values()
            .filter_map(|t| t.future)
            .collect()
    }
}

/// Spawns `future` as a task of the node the current task runs as.
pub(crate) fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    let w = world();
    let node = w.current.get();
    w.exec.borrow_mut().add_task(node, Box::pin(future));
}

/// Spawns `future` as a task of `node`.
pub(crate) fn spawn_on(w: &World, node: Option<IpAddr>, future: TaskFuture) {
    w.exec.borrow_mut().add_task(node, future);
}

/// A future that completes when the simulated clock reaches its deadline.
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    timer: Option<(Instant, u64)>,
}

impl Sleep {
    /// Completes at `deadline` (at once if it passed).
    pub fn until(deadline: Instant) -> Self {
        Sleep {
            deadline,
            timer: None,
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let w = world();
        let mut exec = w.exec.borrow_mut();
        if let Some(key) = self.timer.take() {
            exec.cancel_timer(key);
        }
        if w.now() >= self.deadline {
            return Poll::Ready(());
        }
        self.timer = Some(exec.add_timer(self.deadline, cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let (Some(key), Some(w)) = (self.timer.take(), try_world()) {
            // Taken out first: dropping a waker runs no code of ours, but
            // keep the borrow short anyway.
            let waker = w.exec.borrow_mut().cancel_timer(key);
            drop(waker);
        }
    }
}

/// Why a run stopped before its goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StuckKind {
    /// More task polls than [`Limits::max_steps`].
    StepLimit,
    /// Simulated time would pass [`Limits::max_time`].
    TimeLimit,
    /// Nothing is ready and no timer is set: the goal can never be reached.
    Deadlock,
}

/// A run that did not reach its goal within its [`Limits`] (or never could).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stuck {
    /// Why.
    pub kind: StuckKind,
    /// Simulated time when it stopped.
    pub now: Instant,
    /// Steps taken by this run.
    pub steps: u64,
    /// Live tasks.
    pub tasks: usize,
    /// Pending timers.
    pub timers: usize,
}

impl fmt::Display for Stuck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            StuckKind::StepLimit => "step limit reached",
            StuckKind::TimeLimit => "simulated time limit reached",
            StuckKind::Deadlock => "deadlock: nothing ready and no timer set",
        };
        write!(
            f,
            "simulation stuck ({what}) at {:?} after {} steps ({} tasks, {} timers)",
            Duration::from_micros(self.now.as_micros()),
            self.steps,
            self.tasks,
            self.timers
        )
    }
}

impl std::error::Error for Stuck {}

/// Bounds on one run call (`block_on`, `run_until`, `run_for`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Task polls plus clock jumps.
    pub max_steps: u64,
    /// Simulated time.
    pub max_time: Duration,
}

impl Default for Limits {
    /// 20 million steps, one simulated hour.
    fn default() -> Self {
        Limits {
            max_steps: 20_000_000,
            max_time: Duration::from_secs(3600),
        }
    }
}

/// What a run's check found.
pub(crate) enum Check {
    /// The goal is reached.
    Done,
    /// Not yet, but the check did work itself: check again before stepping.
    Again,
    /// Not yet: step the simulation.
    Wait,
}

/// What one step did.
pub(crate) enum Step {
    /// A task was polled (or a stale wake skipped).
    Polled,
    /// The clock jumped to `now` and the timers due fired.
    Advanced,
    /// Nothing ready, and the next timer is beyond the horizon given.
    Beyond,
    /// Nothing ready and no timer.
    Idle,
}

impl World {
    /// Polls one ready task, or else jumps the clock to the next timer
    /// (if it is not after `horizon`) and fires every timer due.
    pub(crate) fn step(&self, horizon: Instant) -> Step {
        let next = self.exec.borrow().ready.pop();
        if let Some(id) = next {
            self.poll_task(id);
            self.exec.borrow_mut().steps += 1;
            return Step::Polled;
        }
        let Some(at) = self.exec.borrow().next_deadline() else {
            return Step::Idle;
        };
        if at > horizon {
            return Step::Beyond;
        }
        if at > self.now() {
            self.clock.set(at);
        }
        let mut due = Vec::new();
        {
            let mut exec = self.exec.borrow_mut();
            exec.steps += 1;
            while let Some(entry) = exec.timers.first_entry() {
                if entry.key().0 > at {
                    break;
                }
                due.push(entry.remove());
            }
        }
        for waker in due {
            waker.wake();
        }
        Step::Advanced
    }

    fn poll_task(&self, id: u64) {
        let taken = {
            let mut exec = self.exec.borrow_mut();
            exec.tasks
                .get_mut(&id)
                .and_then(|t| Some((t.future.take()?, t.node, t.waker.clone())))
        };
        let Some((mut future, node, waker)) = taken else {
            return; // finished or killed since it was woken
        };
        waker.queued.store(false, Ordering::Release);
        let waker = Waker::from(waker);
        let previous = self.current.replace(node);
        let done = future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready();
        self.current.set(previous);
        let finished = {
            let mut exec = self.exec.borrow_mut();
            if done {
                exec.tasks.remove(&id);
                Some(future)
            } else if let Some(task) = exec.tasks.get_mut(&id) {
                task.future = Some(future);
                None
            } else {
                Some(future) // killed while it ran
            }
        };
        drop(finished); // outside the borrow: destructors reach the world
    }

    /// Steps until `check` says [`Check::Done`], within `limits`. `check`
    /// runs first and after every step; [`Check::Again`] (it did work
    /// itself, such as polling a `block_on` future) counts as a step.
    pub(crate) fn run(
        &self,
        limits: Limits,
        mut check: impl FnMut() -> Check,
    ) -> Result<(), Stuck> {
        let start_steps = self.exec.borrow().steps;
        let horizon = self.now() + limits.max_time;
        loop {
            let again = match check() {
                Check::Done => return Ok(()),
                Check::Again => true,
                Check::Wait => false,
            };
            let steps = self.exec.borrow().steps - start_steps;
            if steps >= limits.max_steps {
                return Err(self.stuck(StuckKind::StepLimit, steps));
            }
            if again {
                self.exec.borrow_mut().steps += 1;
                continue;
            }
            match self.step(horizon) {
                Step::Polled | Step::Advanced => {}
                Step::Beyond => return Err(self.stuck(StuckKind::TimeLimit, steps)),
                Step::Idle => return Err(self.stuck(StuckKind::Deadlock, steps)),
            }
        }
    }

    /// Steps until the clock reaches `end` (then sets it there), within
    /// `max_steps`.
    pub(crate) fn run_until_time(&self, end: Instant, max_steps: u64) -> Result<(), Stuck> {
        let start_steps = self.exec.borrow().steps;
        loop {
            let steps = self.exec.borrow().steps - start_steps;
            if steps >= max_steps {
                return Err(self.stuck(StuckKind::StepLimit, steps));
            }
            match self.step(end) {
                Step::Polled | Step::Advanced => {}
                Step::Beyond | Step::Idle => {
                    if end > self.now() {
                        self.clock.set(end);
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Tasks woken and waiting to be polled.
    pub(crate) fn num_ready(&self) -> usize {
        self.exec.borrow().ready.len()
    }

    fn stuck(&self, kind: StuckKind, steps: u64) -> Stuck {
        let exec = self.exec.borrow();
        Stuck {
            kind,
            now: self.now(),
            steps,
            tasks: exec.num_tasks(),
            timers: exec.num_timers(),
        }
    }
}
