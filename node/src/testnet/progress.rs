//! The testnet's live progress: one bar for the network (nodes done) and,
//! for small networks, one line per node (book and connections). Drawn on
//! stderr only when it is a terminal.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::report::NodeView;
use super::Testnet;

/// Networks up to this many nodes get a line per node.
const PER_NODE_LINES: usize = 16;

pub(super) struct Bars {
    total: ProgressBar,
    nodes: Vec<ProgressBar>,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Bars {
    pub(super) fn new(enabled: bool, testnet: &Testnet) -> Bars {
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let members = testnet.nodes.iter().filter(|n| !n.is_seed).count();
        let total = multi.add(ProgressBar::new(members as u64));
        total.set_style(style(
            "{spinner} [{elapsed}] {bar:30} {pos}/{len} nodes found the network · {msg}",
        ));
        total.enable_steady_tick(Duration::from_millis(120));
        let mut nodes = Vec::new();
        if members <= PER_NODE_LINES {
            for n in testnet.nodes.iter().filter(|n| !n.is_seed) {
                let bar = multi.add(ProgressBar::new(0));
                bar.set_style(style("  {prefix:>8} {bar:20} {msg}"));
                bar.set_prefix(n.moniker.clone());
                nodes.push(bar);
            }
        }
        Bars { total, nodes }
    }

    pub(super) fn update(&self, views: &[NodeView], messages: u64) {
        let members: Vec<&NodeView> = views.iter().filter(|v| !v.is_seed).collect();
        let done = members.iter().filter(|v| v.is_complete()).count();
        self.total.set_position(done as u64);
        self.total
            .set_message(format!("{messages} messages exchanged"));
        for (bar, v) in self.nodes.iter().zip(&members) {
            bar.set_length((v.others + v.target) as u64);
            bar.set_position((v.known + v.connected.min(v.target)) as u64);
            bar.set_message(format!(
                "book {}/{} · connected {}/{}{}",
                v.known,
                v.others,
                v.connected,
                v.target,
                if v.is_complete() { " ✓" } else { "" }
            ));
        }
    }

    pub(super) fn finish(&self) {
        for bar in &self.nodes {
            bar.finish();
        }
        self.total.finish();
    }
}
