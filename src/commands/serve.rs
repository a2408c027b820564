//! `sfko serve`: the embedded target as its own process, optionally with seeded faults, replication and lifecycle.

use std::path::Path;

use crate::cli::ServeArgs;
use crate::exit::{Exit, Fatal};
use crate::target::embedded::{EmbeddedServer, Http, EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY};
use crate::target::faults::{Fault, FaultPlan, FaultyFs};
use crate::target::fixtures::{Lifecycle, Replicator};

pub async fn serve(args: &ServeArgs) -> Result<Exit, Fatal> {
    let faults = Fault::parse_list(&args.faults).map_err(|e| Fatal::bad_input(format!("--faults: {e}")))?;
    let replicate_to = match &args.replicate_to {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => Some(url.clone()),
        Some(url) => {
            return Err(Fatal::bad_input(format!("--replicate-to '{url}': expected an http:// or https:// URL")))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| Fatal::harness(format!("cannot listen on {}: {e}", args.listen)))?;
    let tempdir;
    let root = match &args.root {
        Some(root) => root.clone(),
        None => {
            tempdir = tempfile::Builder::new()
                .prefix("sfko-serve-")
                .tempdir()
                .map_err(|e| Fatal::harness(format!("cannot create a data dir: {e}")))?;
            tempdir.path().to_path_buf()
        }
    };
    let access = std::env::var("SFKO_ACCESS_KEY").unwrap_or_else(|_| EMBEDDED_ACCESS_KEY.into());
    let secret = std::env::var("SFKO_SECRET_KEY").unwrap_or_else(|_| EMBEDDED_SECRET_KEY.into());
    let plan = FaultPlan { seed: args.fault_seed, faults, one_in: args.fault_one_in.max(1) };
    let lifecycle = args.lifecycle_day.map(|day| Lifecycle::new(day, plan.clone()));
    let lag = std::time::Duration::from_millis(args.replicate_lag_ms);
    let replicator = replicate_to.map(|url| Replicator::new(&url, &access, &secret, lag));
    let wrap_lifecycle = lifecycle.clone();
    let wrap = move |fs, root: &Path| {
        let mut faulty = FaultyFs::new(fs, root, plan);
        if let Some(replicator) = replicator {
            faulty = faulty.replicate_to(replicator);
        }
        if let Some(lifecycle) = wrap_lifecycle {
            faulty = faulty.expire_with(lifecycle);
        }
        faulty
    };
    let server = match args.plain {
        true => EmbeddedServer::serve(listener, &root, |fs, _: &Path| fs, &access, &secret, Http::AsPublished),
        false => EmbeddedServer::serve(listener, &root, wrap, &access, &secret, Http::Reference),
    }
    .map_err(|e| Fatal::harness(format!("cannot start the server: {e}")))?;
    if let Some(lifecycle) = &lifecycle {
        lifecycle.start(server.root());
    }
    crate::outln!("endpoint {}", server.endpoint());
    eprintln!("sfko serve: data in {}; Ctrl-C to stop", server.root().display());
    match args.exit_with {
        Some(pid) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = parent_gone(pid) => eprintln!("sfko serve: process {pid} is gone; stopping"),
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    Ok(Exit::Pass)
}

/// Resolves once process `pid` no longer exists (`/proc/PID` is gone; never where there is no `/proc`).
async fn parent_gone(pid: u32) {
    let path = std::path::PathBuf::from(format!("/proc/{pid}"));
    if !Path::new("/proc/self").exists() {
        return std::future::pending().await;
    }
    while path.exists() {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
