//! The exporters' thread: named, with its own current-thread Tokio runtime (the gRPC and async
//! HTTP clients need one), so nothing of the export runs on the request path.

use std::thread::JoinHandle;

/// Spawns thread `name`, builds its runtime, makes the client with `make` inside it and hands
/// both to `work`. Returns once the client is made; a failure is the error of `make`, or
/// `"{what} runtime: …"`, `"{what} thread: …"` or `"{what} thread ended"`.
pub(crate) fn spawn<C>(
    name: &str,
    what: &'static str,
    make: impl FnOnce() -> Result<C, String> + Send + 'static,
    work: impl FnOnce(&tokio::runtime::Runtime, C) + Send + 'static,
) -> Result<JoinHandle<()>, String> {
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let worker = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("{what} runtime: {e}")));
                    return;
                }
            };
            let client = {
                let _enter = runtime.enter();
                make()
            };
            match client {
                Ok(client) => {
                    let _ = ready_tx.send(Ok(()));
                    work(&runtime, client);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        })
        .map_err(|e| format!("{what} thread: {e}"))?;
    ready_rx
        .recv()
        .map_err(|_| format!("{what} thread ended"))??;
    Ok(worker)
}
