//! The intended graph of the mesh tests, starting it as switches, and the
//! limit checks sampled while it runs.

use super::*;

/// Who dials whom: `dials[i]` are node `i`'s persistent peers.
pub(crate) struct Graph {
    pub(crate) dials: Vec<Vec<usize>>,
}

impl Graph {
    /// A ring (`i` dials `i + 1`), a hub (node 0) dialled by `max_in - 1`
    /// more nodes so it reaches the inbound limit, then random chords that
    /// keep every in-degree within `max_in` and out-degree within `max_out`.
    pub(crate) fn ring_hub_chords(n: usize, max_in: usize, max_out: usize, rng: &mut Rng) -> Self {
        let mut g = Graph {
            dials: (0..n).map(|i| vec![(i + 1) % n]).collect(),
        };
        let mut spokes = 0;
        while spokes < max_in - 1 {
            let j = rng.range(2, n - 2);
            if g.can_add(j, 0, max_in, max_out) {
                g.dials[j].push(0);
                spokes += 1;
            }
        }
        for _ in 0..2 * n {
            let (a, b) = (rng.range(0, n - 1), rng.range(0, n - 1));
            if g.can_add(a, b, max_in, max_out) {
                g.dials[a].push(b);
            }
        }
        g
    }

    pub(crate) fn can_add(&self, from: usize, to: usize, max_in: usize, max_out: usize) -> bool {
        from != to
            && !self.neighbours(from).contains(&to)
            && self.in_degree(to) < max_in
            && self.dials[from].len() < max_out
    }

    pub(crate) fn in_degree(&self, i: usize) -> usize {
        self.dials.iter().filter(|d| d.contains(&i)).count()
    }

    /// Everyone `i` should be connected to, in either direction.
    pub(crate) fn neighbours(&self, i: usize) -> BTreeSet<usize> {
        let dialled_by = (0..self.dials.len()).filter(|&j| self.dials[j].contains(&i));
        self.dials[i].iter().copied().chain(dialled_by).collect()
    }

    pub(crate) fn neighbour_ids(&self, i: usize) -> BTreeSet<NodeId> {
        self.neighbours(i).into_iter().map(id).collect()
    }
}

/// Starts one switch per node of `graph`, each with its persistent peers,
/// `tune` adjusting the policy; returns the switches and their logs.
pub(crate) fn start_graph(
    sim: &Simulation,
    graph: &Graph,
    tune: impl Fn(&mut SwitchConfig),
) -> (Vec<Switch<Sim>>, Vec<Log>) {
    (0..graph.dials.len())
        .map(|i| start_node(sim, graph, i, &tune))
        .unzip()
}

pub(crate) fn start_node(
    sim: &Simulation,
    graph: &Graph,
    i: usize,
    tune: impl Fn(&mut SwitchConfig),
) -> (Switch<Sim>, Log) {
    let (node, mut config) = settings(i);
    config.persistent_peers = graph.dials[i].iter().map(|&j| addr(j)).collect();
    tune(&mut config);
    let (watcher, log) = Watcher::new(&[CHANNEL]);
    let builder = Switch::<Sim>::builder(node, config)
        .reactor(watcher)
        .unwrap();
    (start(sim, i, builder), log)
}

pub(crate) fn converged(switches: &[Switch<Sim>], graph: &Graph) -> bool {
    switches
        .iter()
        .enumerate()
        .all(|(i, s)| peer_ids(s) == graph.neighbour_ids(i))
}

/// Panics if any node is over its inbound or outbound limit.
fn check_limits(switches: &[Switch<Sim>], sim: &Simulation) {
    for (i, s) in switches.iter().enumerate() {
        let (inbound, outbound, max_in, max_out) = s.with_policy(|m| {
            let c = m.config();
            (
                m.num_inbound(),
                m.num_outbound(),
                c.max_inbound,
                c.max_outbound,
            )
        });
        let at = secs(sim.now());
        assert!(
            inbound <= max_in,
            "node {i} has {inbound} inbound peers at {at}s"
        );
        assert!(
            outbound <= max_out,
            "node {i} has {outbound} outbound peers at {at}s"
        );
        let peers = s.peers();
        assert!(
            peers.num_inbound() <= max_in,
            "node {i}: peer set over the inbound limit"
        );
    }
}

/// Runs until `done`, checking the limits every 16 steps, and `done` every
/// 256 steps or 10 ms of simulated time, whichever comes first.
pub(crate) fn run_checked(
    sim: &Simulation,
    switches: &[Switch<Sim>],
    mut done: impl FnMut() -> bool,
) {
    let mut n = 0u64;
    let mut checked = sim.now();
    sim.run_until(|| {
        n += 1;
        if n % 16 == 0 {
            check_limits(switches, sim);
        }
        let now = sim.now();
        if n % 256 != 0 && now < checked + Duration::from_millis(10) {
            return false;
        }
        checked = now;
        done()
    })
    .unwrap();
}
