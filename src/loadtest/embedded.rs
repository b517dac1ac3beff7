//! The server `--embedded` starts in this process, on a temporary data dir, with the limits a
//! default server has.

use super::options::{Options, Scenario};
use crate::config::Config;
use crate::startup::Application;

/// A server started in this process on a temporary data dir, for `--embedded`.
pub struct EmbeddedServer {
    pub base: String,
    pub admin_key: String,
    _data_dir: tempfile::TempDir,
}

impl EmbeddedServer {
    pub fn start(options: &Options) -> Result<Self, String> {
        let data_dir = tempfile::tempdir().map_err(|e| format!("a temporary data dir: {e}"))?;
        let admin_key = uuid::Uuid::new_v4().to_string();
        let mut config = Config::defaults();
        config.addr = "127.0.0.1:0".parse().expect("an address");
        config.data_dir = data_dir.path().to_path_buf();
        config.admin_key = Some(admin_key.clone());
        // The fans come from loopback addresses of their own, so the per-client and per-user
        // budgets stay as a default server has them; only the ones the harness is told of move.
        config.client_rate_limit = options.client_rate_limit;
        config.client_timeout = options.client_timeout;
        config.user_rate_limit = user_rate_limit(options, config.user_rate_limit);
        config.active_max = options.active_max;
        config.fsync = options.fsync;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                match Application::build(config) {
                    Ok(application) => {
                        let _ = sender.send(Ok(application.port()));
                        let _ = application.run_until_stopped().await;
                    }
                    Err(error) => {
                        let _ = sender.send(Err(error.to_string()));
                    }
                }
            })
        });
        let port = receiver.recv().map_err(|e| e.to_string())??;
        Ok(Self {
            base: format!("http://127.0.0.1:{port}"),
            admin_key,
            _data_dir: data_dir,
        })
    }
}

/// The per-user budget the embedded server starts with: a default server's `default`, but none
/// for the `watchers` scenario, whose readers go through a few ACTIVE tokens far faster than any
/// fan would, and would measure the budget rather than the reads.
pub fn user_rate_limit(options: &Options, default: u32) -> u32 {
    match options.scenario {
        Scenario::Watchers => 0,
        _ => default,
    }
}
