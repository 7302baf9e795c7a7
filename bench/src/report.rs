//! Output: the Markdown table with ratios, `results.json`, and `chart.svg`
//! (hand-written SVG: horizontal bars at the median, whiskers from min to max).

use std::fmt::Write as _;

use crate::stats::Figure;

/// Everything one run produced.
pub struct Report<'a> {
    /// The command line.
    pub command: String,
    /// Machine and toolchain description, one item per line.
    pub machine: Vec<String>,
    /// Runs per figure.
    pub runs: usize,
    /// The figures.
    pub figures: &'a [Figure],
    /// Wall time of the whole run, seconds.
    pub wall_secs: f64,
}

fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn find<'f>(
    figs: &'f [Figure],
    scenario: &str,
    case: &str,
    system: &str,
    config: Option<&str>,
    metric: &str,
) -> Vec<&'f Figure> {
    figs.iter()
        .filter(|f| {
            f.ok()
                && f.scenario == scenario
                && f.case == case
                && f.system == system
                && f.metric == metric
                && config.is_none_or(|c| f.config.starts_with(c))
        })
        .collect()
}

fn best<'f>(v: &[&'f Figure]) -> Option<&'f Figure> {
    v.iter().copied().max_by(|a, b| {
        let (x, y) = if a.higher_is_better {
            (a.median, b.median)
        } else {
            (-a.median, -b.median)
        };
        x.total_cmp(&y)
    })
}

/// The ceiling a throughput figure is compared with: raw TCP of the same
/// size and path, and for encrypted rows also the AEAD's seal rate.
pub fn ceiling(figs: &[Figure], f: &Figure) -> Option<f64> {
    if !matches!(f.scenario.as_str(), "throughput" | "netem") || f.metric != "MB/s" {
        return None;
    }
    let size = f
        .case
        .split(" plaintext")
        .next()?
        .split(" encrypted")
        .next()?;
    let tcp = figs
        .iter()
        .find(|g| {
            g.ok()
                && g.scenario == f.scenario
                && g.system == "tcp"
                && g.case == format!("{size} plaintext")
        })?
        .median;
    if !f.case.ends_with("encrypted") {
        return Some(tcp);
    }
    // mconn rows name the AEAD only when it is not the default.
    let aead = if f.system == "cometbft" {
        "Go x/crypto".to_string()
    } else if f.config.contains("RustCrypto") {
        "RustCrypto".to_string()
    } else {
        mconn::secret::AeadKind::DEFAULT.to_string()
    };
    let seal = figs
        .iter()
        .find(|g| g.ok() && g.scenario == "ceiling" && g.config.starts_with(&aead))
        .map_or(f64::INFINITY, |g| g.median);
    Some(tcp.min(seal))
}

/// A ratio with enough digits to tell small ones apart.
fn r(v: f64) -> String {
    if v.abs() < 0.1 {
        format!("{v:.3}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(a: Option<&Figure>, b: Option<&Figure>) -> Option<(f64, String, String)> {
    let (a, b) = (a?, b?);
    Some((
        a.median / b.median,
        format!("{} {}", a.system, a.config),
        format!("{} {}", b.system, b.config),
    ))
}

/// The ratio lines (mconn ÷ CometBFT, ÷ yamux, ÷ ceiling).
pub fn ratios(figs: &[Figure]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cases: Vec<(String, String)> = Vec::new();
    for f in figs {
        let k = (f.scenario.clone(), f.case.clone());
        if matches!(f.scenario.as_str(), "throughput" | "netem") && !cases.contains(&k) {
            cases.push(k);
        }
    }
    for (sc, case) in &cases {
        let of = |sys: &str, conf: Option<&str>| find(figs, sc, case, sys, conf, "MB/s");
        let tokio = of("mconn", Some("mconn-tokio defaults")).first().copied();
        let smol = of("mconn", Some("mconn-smol defaults")).first().copied();
        let c = best(&of("cometbft", None));
        let cun = of("cometbft", Some("uncapped")).first().copied();
        let cdef = of("cometbft", Some("defaults")).first().copied();
        let y = best(&of("yamux", None));
        let mut line = format!("- {sc}, {case}:");
        for (name, m) in [("mconn-tokio", tokio), ("mconn-smol", smol)] {
            let Some(m) = m else { continue };
            let mut parts = Vec::new();
            if let Some((v, _, b)) = ratio(Some(m), c) {
                parts.push(format!("÷ best CometBFT = **{}** ({b})", r(v)));
            }
            if let Some((v, _, _)) = ratio(Some(m), cun) {
                parts.push(format!("÷ CometBFT uncapped = {}", r(v)));
            }
            if let Some((v, _, _)) = ratio(Some(m), cdef) {
                parts.push(format!("÷ CometBFT defaults = {}", r(v)));
            }
            if let Some((v, _, b)) = ratio(Some(m), y) {
                parts.push(format!("÷ best yamux = **{}** ({b})", r(v)));
            }
            if let Some(ceil) = ceiling(figs, m) {
                parts.push(format!("÷ ceiling = **{}**", r(m.median / ceil)));
            }
            if !parts.is_empty() {
                let _ = write!(line, " {name} defaults {};", parts.join(", "));
            }
        }
        if let Some(c) = c {
            if let Some(ceil) = ceiling(figs, c) {
                let _ = write!(line, " CometBFT ÷ ceiling = {};", r(c.median / ceil));
            }
        }
        if line.ends_with(';') {
            out.push(line.trim_end_matches(';').to_string());
        }
    }
    for metric in ["p50 ms", "p99 ms", "max ms"] {
        let lat = |sys: &str, conf: Option<&str>| {
            figs.iter()
                .find(|f| {
                    f.ok()
                        && f.scenario == "latency"
                        && f.system == sys
                        && f.metric == metric
                        && conf.is_none_or(|c| f.config.contains(c))
                })
                .map(|f| f.median)
        };
        let m = lat("mconn", Some("mconn-tokio defaults"));
        let smol = lat("mconn", Some("mconn-smol defaults"));
        let mcap = lat("mconn", Some("mconn-tokio, 5 MB/s rate caps"));
        let parts: Vec<String> = [
            (
                "mconn 5 MB/s caps ÷ CometBFT defaults (5 MB/s caps)",
                mcap,
                lat("cometbft", Some("defaults")),
            ),
            (
                "mconn ÷ CometBFT uncapped, flush 1 ms",
                m,
                lat("cometbft", Some("uncapped, flush 1 ms")),
            ),
            ("mconn ÷ yamux", m, lat("yamux", None)),
            ("mconn-smol ÷ yamux", smol, lat("yamux", None)),
        ]
        .into_iter()
        .filter_map(|(n, a, b)| Some(format!("{n} = {}", r(a? / b?))))
        .collect();
        if !parts.is_empty() {
            out.push(format!(
                "- latency {metric} (lower is better): {}",
                parts.join("; ")
            ));
        }
    }
    let bulk = |conf: &str| {
        figs.iter()
            .find(|f| {
                f.ok()
                    && f.scenario == "latency"
                    && f.metric == "bulk MB/s"
                    && f.config.starts_with(conf)
            })
            .map(|f| f.median)
    };
    let baseline = format!("{}mconn-tokio defaults", crate::latency::BULK_ONLY);
    if let (Some(under), Some(alone)) = (bulk("mconn-tokio defaults"), bulk(&baseline)) {
        out.push(format!(
            "- latency, bulk MB/s with urgent traffic ÷ without (higher is better): mconn-tokio defaults = **{}**",
            r(under / alone)
        ));
    }
    let aggregate = |peers: usize| {
        let label = crate::adapter::many_bulk_label(peers);
        figs.iter()
            .find(|f| f.ok() && f.scenario == "throughput" && f.config == label)
            .map(|f| f.median)
    };
    if let (Some(eight), Some(one)) = (aggregate(8), aggregate(1)) {
        out.push(format!(
            "- throughput, one node, aggregate of 8 concurrent peers ÷ 1 peer (higher is better): mconn-tokio defaults = **{}**",
            r(eight / one)
        ));
    }
    for metric in ["KiB/conn", "idle CPU %"] {
        let of = |sys: &str| {
            figs.iter()
                .filter(move |f| {
                    f.ok() && f.scenario == "peers" && f.system == sys && f.metric == metric
                })
                .collect::<Vec<_>>()
        };
        let Some(c) = of("cometbft").first().map(|f| f.median) else {
            continue;
        };
        let parts: Vec<String> = of("mconn")
            .iter()
            .map(|m| format!("mconn ({}) ÷ CometBFT = {}", m.config, r(m.median / c)))
            .collect();
        if !parts.is_empty() {
            out.push(format!(
                "- many peers, {metric} (lower is better): {}",
                parts.join("; ")
            ));
        }
    }
    let hs = |sys: &str| {
        figs.iter()
            .find(|f| f.ok() && f.scenario == "handshakes" && f.system == sys)
    };
    if let Some((v, _, _)) = ratio(hs("mconn"), hs("cometbft")) {
        out.push(format!(
            "- handshakes/s (higher is better): mconn-tokio ÷ CometBFT = **{}**",
            r(v)
        ));
    }
    out.extend(switch_ratios(figs));
    out
}

/// The switch scenario's ratios: mconn ÷ each CometBFT configuration, per
/// case and metric (for "lower is better" metrics below 1 favours mconn).
fn switch_ratios(figs: &[Figure]) -> Vec<String> {
    let mut out = Vec::new();
    let mut keys: Vec<(&str, &str, bool)> = Vec::new();
    for f in figs.iter().filter(|f| f.ok() && f.scenario == "switch") {
        if !keys.iter().any(|k| k.0 == f.case && k.1 == f.metric) {
            keys.push((&f.case, &f.metric, f.higher_is_better));
        }
    }
    for (case, metric, higher) in keys {
        let of = |sys: &str| {
            figs.iter()
                .filter(|f| {
                    f.ok()
                        && f.scenario == "switch"
                        && f.case == case
                        && f.metric == metric
                        && f.system == sys
                })
                .collect::<Vec<_>>()
        };
        let Some(m) = of("mconn").first().map(|f| f.median) else {
            continue;
        };
        // A zero median (idle CPU over a short window) has no ratio.
        let parts: Vec<String> = of("cometbft")
            .iter()
            .filter(|c| c.median > 0.0)
            .map(|c| format!("mconn ÷ CometBFT {} = **{}**", c.config, r(m / c.median)))
            .collect();
        if !parts.is_empty() {
            let better = if higher { "higher" } else { "lower" };
            out.push(format!(
                "- switch, {case}, {metric} ({better} is better): {}",
                parts.join("; ")
            ));
        }
    }
    out
}

/// The Markdown report.
pub fn markdown(r: &Report<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Command: `{}`  ", r.command);
    let _ = writeln!(
        s,
        "Each figure: median of {} runs, with min and max. Wall time {:.0} s.\n",
        r.runs, r.wall_secs
    );
    let _ = writeln!(s, "Machine:\n");
    for m in &r.machine {
        let _ = writeln!(s, "- {m}");
    }
    let _ = writeln!(s);
    let mut scenario = "";
    for f in r.figures {
        if f.scenario != scenario {
            scenario = &f.scenario;
            let _ = writeln!(s, "\n### {}\n", title(scenario));
            let _ = writeln!(
                s,
                "| case | system | config | metric | median | min | max | ÷ ceiling |"
            );
            let _ = writeln!(s, "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |");
        }
        if let Some(why) = &f.skipped {
            let _ = writeln!(
                s,
                "| {} | {} | {} | | skipped: {why} | | | |",
                f.case, f.system, f.config
            );
            continue;
        }
        let ceil = ceiling(r.figures, f)
            .map(|c| format!("{:.2}", f.median / c))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            f.case,
            f.system,
            f.config,
            f.metric,
            fmt_num(f.median),
            fmt_num(f.min),
            fmt_num(f.max),
            ceil
        );
    }
    let _ = writeln!(s, "\n### Ratios (medians)\n");
    for l in ratios(r.figures) {
        let _ = writeln!(s, "{l}");
    }
    s
}

fn title(scenario: &str) -> &str {
    match scenario {
        "ceiling" => "Ceilings: raw single-core ChaCha20-Poly1305 seal rate (1028-byte buffers)",
        "throughput" => "Throughput, one connection, one channel/stream (loopback TCP)",
        "netem" => "Throughput over a veth pair with 50 ms RTT (tc netem)",
        "latency" => "Priority under load: urgent-message delivery latency",
        "peers" => "Many idle authenticated peers on one node",
        "allocs" => "mconn allocations per message in steady state (in memory)",
        "switch" => "Switch: broadcast to 50 peers, and idle peers on one switch",
        other => other,
    }
}

fn color(system: &str) -> &'static str {
    match system {
        "mconn" => "#1f77b4",
        "cometbft" => "#ff7f0e",
        "yamux" => "#2ca02c",
        _ => "#8c8c8c",
    }
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max - 1).collect();
    format!("{cut}…")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG chart: one panel per (scenario, metric) worth charting.
pub fn svg(figs: &[Figure]) -> String {
    let panels: [(&str, &str, &str); 8] = [
        (
            "throughput",
            "MB/s",
            "Throughput on loopback, MB/s (higher is better)",
        ),
        (
            "netem",
            "MB/s",
            "Throughput over 50 ms RTT, MB/s (higher is better)",
        ),
        (
            "latency",
            "p99 ms",
            "Urgent message p99 latency under load, ms (lower is better)",
        ),
        (
            "peers",
            "KiB/conn",
            "Memory per idle peer, KiB (lower is better)",
        ),
        (
            "peers",
            "idle CPU %",
            "CPU while idle, % of one core (lower is better)",
        ),
        (
            "switch",
            "delivered msgs/s",
            "Switch broadcast, 1 KiB to 50 peers: deliveries/s (higher is better)",
        ),
        (
            "switch",
            "p99 ms",
            "Switch broadcast, 1 KiB to 50 peers: p99 delivery latency, ms (lower is better)",
        ),
        (
            "switch",
            "KiB/peer",
            "Switch with idle peers: memory per peer, KiB (lower is better)",
        ),
    ];
    let (width, label_w, bar_h) = (1150.0, 560.0, 16.0);
    let mut body = String::new();
    let mut y = 30.0;
    for (scenario, metric, title) in panels {
        let rows: Vec<&Figure> = figs
            .iter()
            .filter(|f| f.ok() && f.scenario == scenario && f.metric == metric)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let max = rows.iter().map(|f| f.max).fold(0.0f64, f64::max).max(1e-9);
        let scale = (width - label_w - 90.0) / max;
        let _ = writeln!(
            body,
            r#"<text x="10" y="{y}" font-weight="bold">{}</text>"#,
            esc(title)
        );
        y += 10.0;
        let mut case = "";
        for f in rows {
            if f.case != case {
                case = &f.case;
                y += 16.0;
                let _ = writeln!(
                    body,
                    r#"<text x="10" y="{y}" font-style="italic">{}</text>"#,
                    esc(case)
                );
                y += 4.0;
            }
            let w = (f.median * scale).max(1.0);
            let _ = writeln!(
                body,
                r#"<text x="{lx}" y="{ty}" text-anchor="end">{}</text><rect x="{label_w}" y="{y}" width="{w:.1}" height="{h}" fill="{}"/><line x1="{x1:.1}" x2="{x2:.1}" y1="{my}" y2="{my}" stroke="black"/><line x1="{x1:.1}" x2="{x1:.1}" y1="{t}" y2="{b}" stroke="black"/><line x1="{x2:.1}" x2="{x2:.1}" y1="{t}" y2="{b}" stroke="black"/><text x="{vx:.1}" y="{ty}">{}</text>"#,
                esc(&short(&format!("{} · {}", f.system, f.config), 90)),
                color(&f.system),
                fmt_num(f.median),
                lx = label_w - 6.0,
                ty = y + bar_h - 4.0,
                h = bar_h - 3.0,
                x1 = label_w + f.min * scale,
                x2 = label_w + f.max * scale,
                my = y + (bar_h - 3.0) / 2.0,
                t = y + 2.0,
                b = y + bar_h - 5.0,
                vx = label_w + f.max * scale + 6.0,
            );
            y += bar_h;
        }
        y += 24.0;
    }
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="16" font-size="11" fill="gray">bars: median; whiskers: min–max over repeated runs</text>
{body}</svg>
"#,
        h = y + 10.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_peer_aggregate_is_divided_by_one_peer() {
        let fig = |peers: usize, v: Vec<f64>| {
            let config = crate::adapter::many_bulk_label(peers);
            Figure::new("throughput", "1 MiB", "mconn", &config, "MB/s", true, v)
        };
        let figs = [fig(1, vec![200.0]), fig(8, vec![300.0, 100.0, 500.0])];
        let line = ratios(&figs)
            .into_iter()
            .find(|l| l.contains("8 concurrent peers"))
            .expect("an aggregate ratio line");
        assert!(line.ends_with("= **1.50**"), "{line}");
    }

    #[test]
    fn switch_ratios_divide_mconn_by_each_cometbft_config() {
        let fig = |system: &str, config: &str, metric: &str, higher: bool, v: Vec<f64>| {
            Figure::new("switch", "case", system, config, metric, higher, v)
        };
        let figs = [
            fig("mconn", "ours", "msgs/s", true, vec![300.0, 100.0, 200.0]),
            fig("cometbft", "defaults", "msgs/s", true, vec![50.0]),
            fig("cometbft", "uncapped", "msgs/s", true, vec![80.0]),
            fig("mconn", "ours", "idle CPU %", false, vec![0.1]),
            fig("cometbft", "defaults", "idle CPU %", false, vec![0.0]),
            fig("mconn", "ours", "p99 ms", false, vec![2.0]),
            fig("cometbft", "defaults", "p99 ms", false, vec![8.0]),
        ];
        assert_eq!(
            switch_ratios(&figs),
            [
                "- switch, case, msgs/s (higher is better): mconn ÷ CometBFT defaults = **4.00**; \
                 mconn ÷ CometBFT uncapped = **2.50**",
                "- switch, case, p99 ms (lower is better): mconn ÷ CometBFT defaults = **0.25**",
            ]
        );
    }
}
