//! The embedded S3 target: s3s + s3s-fs served in-process on 127.0.0.1, so sfko does something real with no setup.
//!
//! The same server backs `sfko serve` (an external s3s-fs process for benchmarks and tests) and, wrapped by
//! [`crate::target::faults`], the fault-seeded fixture that proves the checks catch what they claim to catch.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use s3s_fs::FileSystem;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::http_layer::JoinContentEncoding;

/// Access key of the embedded server. Not a secret: the server only listens on loopback for this process.
pub const EMBEDDED_ACCESS_KEY: &str = "sfko-embedded";
/// Secret key of the embedded server (loopback only, see [`EMBEDDED_ACCESS_KEY`]).
pub const EMBEDDED_SECRET_KEY: &str = "sfko-embedded-secret";

/// What stands between the socket and s3s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http {
    /// The reference server's HTTP layer ([`super::http_layer`]).
    Reference,
    /// Nothing: s3s as published (`sfko serve --plain`).
    AsPublished,
}

/// A running in-process S3 server; stops when dropped.
pub struct EmbeddedServer {
    endpoint: String,
    root: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl EmbeddedServer {
    /// A healthy s3s-fs on a fresh temp dir and an ephemeral loopback port, with object versioning (the fault
    /// wrapper with no faults, which carries the versioning layer s3s-fs lacks).
    pub async fn start() -> std::io::Result<EmbeddedServer> {
        use super::faults::{FaultPlan, FaultyFs};
        Self::start_with(|fs, root| FaultyFs::new(fs, root, FaultPlan::none())).await
    }

    /// Like [`start`](Self::start), but the s3s-fs backend is wrapped by `wrap` (which sees the data dir).
    pub async fn start_with<S: s3s::S3>(wrap: impl FnOnce(FileSystem, &Path) -> S) -> std::io::Result<EmbeddedServer> {
        Self::start_on(wrap, Http::Reference).await
    }

    /// s3s-fs exactly as published: no layer of sfko's, over HTTP or S3.
    pub async fn start_plain() -> std::io::Result<EmbeddedServer> {
        Self::start_on(|fs, _| fs, Http::AsPublished).await
    }

    async fn start_on<S: s3s::S3>(
        wrap: impl FnOnce(FileSystem, &Path) -> S,
        http: Http,
    ) -> std::io::Result<EmbeddedServer> {
        let tempdir = tempfile::Builder::new().prefix("sfko-embedded-").tempdir()?;
        let root = tempdir.path().to_path_buf();
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let mut server = Self::serve(listener, &root, wrap, EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, http)?;
        server._tempdir = Some(tempdir);
        Ok(server)
    }

    /// Serves `root` on `listener` with the given credentials (for `sfko serve`).
    pub fn serve<S: s3s::S3>(
        listener: TcpListener,
        root: &Path,
        wrap: impl FnOnce(FileSystem, &Path) -> S,
        access_key: &str,
        secret_key: &str,
        http: Http,
    ) -> std::io::Result<EmbeddedServer> {
        std::fs::create_dir_all(root)?;
        let fs = FileSystem::new(root).map_err(|e| std::io::Error::other(format!("s3s-fs: {e:?}")))?;
        let mut builder = S3ServiceBuilder::new(wrap(fs, root));
        builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
        let service = JoinContentEncoding { inner: builder.build(), enabled: http == Http::Reference };
        let addr: SocketAddr = listener.local_addr()?;
        let (shutdown, mut stop) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let connections = ConnBuilder::new(TokioExecutor::new());
            loop {
                let (socket, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(conn) => conn,
                        Err(e) => {
                            // E.g. out of file descriptors: back off instead of spinning.
                            tracing::warn!("embedded S3: accept failed: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    _ = &mut stop => break,
                };
                // Without this every small GET waits ~40 ms for a delayed ACK (s3s-fs writes header and body apart).
                let _ = socket.set_nodelay(true);
                let conn = connections.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Ok(EmbeddedServer {
            endpoint: format!("http://{addr}"),
            root: root.to_path_buf(),
            _tempdir: None,
            shutdown: Some(shutdown),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The data directory (buckets are directories, objects files).
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
