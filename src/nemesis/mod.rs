//! The nemesis: seeded faults on a run's timeline (Jepsen's word for the thing that breaks the cluster).
//!
//! The schedule ([`crate::plan::nemesis`]) places fault windows at op positions. This module carries it out: it
//! hands the schedule to the proxy (which hits the requests of the ops inside network-fault windows, by op, see
//! [`proxy`]), follows the driver's ops ([`OpObserver`]) to run user actions and their heals as ops enter and leave
//! windows, holds the checks back until everything has healed, and records each window in the journal. Faults act only on workload ops: setup, checks and cleanup always see a healed target,
//! so what the checks read back is what the cluster kept of every acknowledged write.
//!
//! The oracle stays honest because the driver already treats what a fault does to an op as *no answer* (a reset,
//! a truncated answer: status 0) or as *ambiguous* (a retry whose answer may echo an attempt that applied): neither
//! is judged, and the keys they touched become unknown.

mod actions;
pub mod proxy;

pub use actions::shell;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::config::{ActionConfig, NemesisConfig};
use crate::driver::{LatencyHistogram, LatencySummary, OpEnd, OpObserver};
use crate::journal::{ActionRecord, FaultWindow, JournalSink, NemesisRecord, Phase};
use crate::plan::nemesis::{Injection, NemesisPlan, NetFault, Window};
use crate::seed::Seed;
use proxy::Proxy;

/// Defaults of `every` and `length`: a fifth of the workload's ops run under a fault.
pub const DEFAULT_EVERY: u64 = 40;
pub const DEFAULT_LENGTH: u64 = 8;

/// What a run's nemesis did, for its report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NemesisSummary {
    /// Windows entered.
    pub windows: u64,
    /// Requests hit (network faults) or actions run, by fault name.
    pub injected: BTreeMap<String, u64>,
    /// Workload ops inside windows, those without a usable answer, and those left ambiguous.
    pub ops_in_faults: u64,
    pub unanswered_in_faults: u64,
    pub ambiguous_in_faults: u64,
    /// Workload ops inside windows whose final answer was not a success, and their latency (first attempt to final
    /// answer, retries included).
    pub errors_in_faults: u64,
    pub latency_in_faults_ms: LatencySummary,
    /// The same for workload ops outside windows (after healing).
    pub ops_outside: u64,
    pub unanswered_outside: u64,
    pub errors_outside: u64,
    pub latency_outside_ms: LatencySummary,
    /// Actions whose `run` or `heal` did not exit 0, and heals after which the health probe never passed.
    pub actions_failed: u64,
    pub unhealthy: u64,
}

impl NemesisSummary {
    /// One line for the human report.
    pub fn line(&self) -> String {
        let injected: Vec<String> = self.injected.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
        format!(
            "nemesis: {} windows, injected {}; {} ops under faults ({} unanswered, {} ambiguous: unjudged, keys \
             unknown; {} errors, p50 {:.1} ms, p99 {:.1} ms), {} outside ({} unanswered; {} errors, p50 {:.1} ms, \
             p99 {:.1} ms){}",
            self.windows,
            if injected.is_empty() { "nothing".into() } else { injected.join(", ") },
            self.ops_in_faults,
            self.unanswered_in_faults,
            self.ambiguous_in_faults,
            self.errors_in_faults,
            self.latency_in_faults_ms.p50,
            self.latency_in_faults_ms.p99,
            self.ops_outside,
            self.unanswered_outside,
            self.errors_outside,
            self.latency_outside_ms.p50,
            self.latency_outside_ms.p99,
            match (self.actions_failed, self.unhealthy) {
                (0, 0) => String::new(),
                (failed, unhealthy) =>
                    format!("; {failed} action commands failed, {unhealthy} heals left it unhealthy"),
            }
        )
    }
}

/// The window the run is in, with what it injected.
struct Open {
    window: Window,
    injection: Injection,
    /// A user action's `run`, still going or done.
    action: Option<tokio::task::JoinHandle<ActionRecord>>,
}

/// The ops seen inside one window.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    window: u64,
    ops: u64,
    unanswered: u64,
    ambiguous: u64,
}

#[derive(Default)]
struct State {
    open: Option<Open>,
    /// Windows numbered below this have been entered and left (ops arrive a little out of order).
    next: u64,
}

/// A run's nemesis.
pub struct Nemesis {
    plan: NemesisPlan,
    proxy: Option<Arc<Proxy>>,
    actions: BTreeMap<String, ActionConfig>,
    sink: JournalSink,
    state: tokio::sync::Mutex<State>,
    summary: Mutex<NemesisSummary>,
    /// Tallies of the open window, updated by `after` without the async lock.
    tally: Mutex<Tally>,
    /// Latencies of workload ops inside windows and outside them.
    latency: Mutex<[LatencyHistogram; 2]>,
}

impl Nemesis {
    /// A nemesis carrying out `plan` through `proxy` (for network faults) with the config's `actions`. Records the
    /// schedule in the journal first.
    pub async fn start(
        plan: NemesisPlan,
        proxy: Option<Arc<Proxy>>,
        actions: &[ActionConfig],
        sink: JournalSink,
    ) -> Arc<Nemesis> {
        sink.nemesis(NemesisRecord::Schedule(plan.clone())).await;
        if let Some(proxy) = &proxy {
            proxy.follow(Some(plan.clone()));
        }
        for injection in &plan.injections {
            if let Injection::Action(name) = injection {
                if !actions.iter().any(|a| &a.name == name) {
                    tracing::warn!("nemesis: action '{name}' is not in this config: its windows inject nothing");
                }
            }
        }
        Arc::new(Nemesis {
            plan,
            proxy,
            actions: actions.iter().map(|a| (a.name.clone(), a.clone())).collect(),
            sink,
            state: tokio::sync::Mutex::new(State::default()),
            summary: Mutex::new(NemesisSummary::default()),
            tally: Mutex::new(Tally { window: u64::MAX, ..Tally::default() }),
            latency: Mutex::new([LatencyHistogram::new(), LatencyHistogram::new()]),
        })
    }

    /// Ends the open window (healing it) and returns what the nemesis did.
    pub async fn finish(&self) -> NemesisSummary {
        let mut state = self.state.lock().await;
        self.close(&mut state).await;
        let mut summary = self.summary.lock().map(|s| s.clone()).unwrap_or_default();
        if let Some(proxy) = &self.proxy {
            proxy.follow(None);
            // Retries of a window's ops that came after the window was recorded.
            for (window, hits) in proxy.take_all_hits() {
                let name = self.plan.injection(&self.plan.window(window)).map_or("?", Injection::name);
                *summary.injected.entry(name.to_string()).or_default() += hits;
            }
        }
        if let Ok([inside, outside]) = self.latency.lock().as_deref() {
            summary.latency_in_faults_ms = inside.summary();
            summary.latency_outside_ms = outside.summary();
        }
        summary
    }

    async fn enter(&self, state: &mut State, window: Window) {
        let Some(injection) = self.plan.injection(&window).cloned() else { return };
        let mut action = None;
        match &injection {
            // The proxy hits the window's requests by their op tags.
            Injection::Net(_) => {}
            Injection::Action(name) => {
                if let Some(config) = self.actions.get(name) {
                    let run = config.run.clone();
                    action = Some(tokio::spawn(async move {
                        let (run_status, run_ms) = actions::shell(&run).await;
                        ActionRecord { run_status, run_ms, ..ActionRecord::default() }
                    }));
                }
            }
        }
        tracing::debug!(window = window.number, fault = injection.name(), "nemesis: fault on");
        if let Ok(mut tally) = self.tally.lock() {
            *tally = Tally { window: window.number, ..Tally::default() };
        }
        state.open = Some(Open { window, injection, action });
        state.next = window.number + 1;
    }

    async fn close(&self, state: &mut State) {
        let Some(mut open) = state.open.take() else { return };
        let tally = self.tally.lock().map(|t| *t).unwrap_or_default();
        let tally = if tally.window == open.window.number { tally } else { Tally::default() };
        let mut injected = 0;
        let mut record = None;
        match &open.injection {
            Injection::Net(_) => {
                if let Some(proxy) = &self.proxy {
                    injected = proxy.take_hits(open.window.number);
                }
            }
            Injection::Action(name) => {
                if let (Some(run), Some(config)) = (open.action.take(), self.actions.get(name)) {
                    let ran = run.await.unwrap_or_default();
                    let healed = actions::heal(config, ran).await;
                    injected = 1;
                    record = Some(healed);
                }
            }
        }
        tracing::debug!(window = open.window.number, injected, "nemesis: fault off");
        if let Ok(mut summary) = self.summary.lock() {
            summary.windows += 1;
            *summary.injected.entry(open.injection.name().to_string()).or_default() += injected;
            if let Some(r) = &record {
                let failed = |status: Option<i32>| status != Some(0);
                summary.actions_failed += u64::from(failed(r.run_status))
                    + u64::from(
                        self.actions.get(open.injection.name()).is_some_and(|a| a.heal.is_some())
                            && failed(r.heal_status),
                    );
                summary.unhealthy += u64::from(!r.healthy);
            }
        }
        let window = FaultWindow {
            number: open.window.number,
            fault: open.injection.name().to_string(),
            start: open.window.start,
            end: open.window.end,
            injected,
            ops: tally.ops,
            unanswered: tally.unanswered,
            ambiguous: tally.ambiguous,
            action: record,
        };
        self.sink.nemesis(NemesisRecord::Window(window)).await;
    }
}

#[async_trait::async_trait]
impl OpObserver for Nemesis {
    async fn before(&self, index: u64, phase: &Phase) {
        let mut state = self.state.lock().await;
        if !matches!(phase, Phase::Workload(_)) {
            // Setup, checks and cleanup see a healed target.
            self.close(&mut state).await;
            return;
        }
        let here = self.plan.at(index);
        let open = state.open.as_ref().map(|o| o.window);
        match (open, here) {
            (Some(o), Some(h)) if o.number == h.number => {}
            (Some(o), _) if index >= o.end => {
                self.close(&mut state).await;
                if let Some(h) = here.filter(|h| h.number >= state.next) {
                    self.enter(&mut state, h).await;
                }
            }
            (Some(_), _) => {}
            (None, Some(h)) if h.number >= state.next => self.enter(&mut state, h).await,
            (None, _) => {}
        }
    }

    fn after(&self, index: u64, end: &OpEnd) {
        if !end.workload {
            return;
        }
        let window = self.plan.at(index);
        if let Ok(mut summary) = self.summary.lock() {
            match window {
                Some(_) => {
                    summary.ops_in_faults += 1;
                    summary.unanswered_in_faults += u64::from(end.unanswered);
                    summary.ambiguous_in_faults += u64::from(end.ambiguous);
                    summary.errors_in_faults += u64::from(end.failed);
                }
                None => {
                    summary.ops_outside += 1;
                    summary.unanswered_outside += u64::from(end.unanswered);
                    summary.errors_outside += u64::from(end.failed);
                }
            }
        }
        if let Ok(mut latency) = self.latency.lock() {
            latency[usize::from(window.is_none())].record(u64::try_from(end.latency.as_micros()).unwrap_or(u64::MAX));
        }
        if let (Some(w), Ok(mut tally)) = (window, self.tally.lock()) {
            if tally.window == w.number {
                tally.ops += 1;
                tally.unanswered += u64::from(end.unanswered);
                tally.ambiguous += u64::from(end.ambiguous);
            }
        }
    }
}

/// The schedule a config (and the command line, which overrides it) asks for, for the run of `seed`; `None` when
/// it asks for no fault.
pub fn schedule(config: Option<&NemesisConfig>, seed: Seed) -> Option<NemesisPlan> {
    let config = config?;
    let mut injections: Vec<Injection> = Vec::new();
    for name in &config.network {
        match name.as_str() {
            "all" => injections.extend(NetFault::ALL.map(Injection::Net)),
            other => injections.extend(NetFault::parse(other).ok().map(Injection::Net)),
        }
    }
    injections.extend(config.actions.iter().map(|a| Injection::Action(a.name.clone())));
    if injections.is_empty() {
        return None;
    }
    Some(NemesisPlan {
        seed,
        every: config.every.unwrap_or(DEFAULT_EVERY).max(1),
        length: config.length.unwrap_or(DEFAULT_LENGTH).max(1),
        injections,
    })
}

/// Whether `plan` needs the network proxy.
pub fn needs_proxy(plan: &NemesisPlan) -> bool {
    plan.injections.iter().any(|i| matches!(i, Injection::Net(_)))
}

#[cfg(test)]
mod tests {
    /// The schedule says "hit the first k attempts, up to every one the driver makes": the two limits are one.
    #[test]
    fn the_last_draw_hits_every_attempt_the_driver_makes() {
        assert_eq!(crate::plan::nemesis::MAX_ATTEMPTS_HIT, u64::from(crate::driver::MAX_ATTEMPTS));
    }
}
