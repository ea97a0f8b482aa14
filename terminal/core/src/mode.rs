//! 研修モード: a terminal runs either live (the ward's residents, through the resident system the configuration
//! names) or in training. Training is decided here, once, when the counter is wired — not by each screen — so no
//! configuration value can make a training terminal reach a live resident system: a training counter only ever gets
//! the embedded reference resident system, a configured live adapter is refused with the reason before anything
//! starts, every sheet carries 「見本」, and the store itself remembers which kind it is (a training store never
//! serves a live terminal, nor a live store a training one).

use std::path::PathBuf;
use std::sync::Arc;

use backend_adapter::http::{HttpClientConfig, HttpResidentSystem};
use backend_adapter::{ReferenceResidentSystem, ResidentSystem, ResidentSystemError};

use crate::certificate::CertificateProfile;
use crate::clock::Clock;
use crate::counter::Counter;
use crate::error::StoreError;
use crate::store::Store;

/// How a terminal runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// 本番: the ward's residents.
    Live,
    /// 研修: synthetic residents, specimen prints.
    Training,
}

impl RunMode {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Live => "live",
            RunMode::Training => "training",
        }
    }

    /// The stored form read back.
    pub fn parse(text: &str) -> Option<RunMode> {
        match text {
            "live" => Some(RunMode::Live),
            "training" => Some(RunMode::Training),
            _ => None,
        }
    }

    /// 「本番」 or 「研修」.
    pub fn label_ja(self) -> &'static str {
        match self {
            RunMode::Live => "本番",
            RunMode::Training => "研修",
        }
    }
}

/// The resident system a configuration names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResidentSystemSetting {
    /// The embedded reference resident system in this SQLite file.
    Reference(PathBuf),
    /// A resident system that speaks the HTTP contract at this base URL.
    Http(String),
}

impl ResidentSystemSetting {
    /// Read a setting: an `http://` URL is a live adapter; anything else is the path of a reference store (a
    /// `sqlite:` prefix is allowed).
    pub fn parse(text: &str) -> ResidentSystemSetting {
        let lowered = text.trim().to_ascii_lowercase();
        if lowered.contains("://") && !lowered.starts_with("sqlite:") {
            ResidentSystemSetting::Http(text.trim().to_string())
        } else {
            let path = text.strip_prefix("sqlite://").or_else(|| text.strip_prefix("sqlite:")).unwrap_or(text);
            ResidentSystemSetting::Reference(PathBuf::from(path))
        }
    }
}

impl RunMode {
    /// Whether a terminal in this mode may use the resident system `setting` names: in training a live adapter
    /// never is.
    pub fn permits(self, setting: &ResidentSystemSetting) -> Result<(), ModeError> {
        match (self, setting) {
            (RunMode::Training, ResidentSystemSetting::Http(url)) => Err(ModeError::LiveAdapterInTraining(url.clone())),
            _ => Ok(()),
        }
    }
}

/// Why a terminal could not be wired for its mode. Nothing has been changed when one is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModeError {
    /// A training terminal was configured with a live resident system.
    #[error(
        "training mode uses only the embedded reference resident system; the configured resident system {0} is refused"
    )]
    LiveAdapterInTraining(String),
    /// The store belongs to the other kind of terminal.
    #[error("this is a {store} store; a {terminal} terminal cannot use it", store = .store.as_str(), terminal = .terminal.as_str())]
    StoreOfOtherMode {
        /// The store's mode.
        store: RunMode,
        /// The terminal's mode.
        terminal: RunMode,
    },
    /// The resident system could not be set up.
    #[error("resident system: {0}")]
    ResidentSystem(#[from] ResidentSystemError),
    /// The store could not record or report its mode.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ModeError {
    /// The message shown to the user.
    pub fn message_ja(&self) -> String {
        match self {
            ModeError::LiveAdapterInTraining(url) => format!(
                "研修モードでは内蔵の参照用住民記録システムだけを使います。設定された住民記録システム（{url}）には接続しません"
            ),
            ModeError::StoreOfOtherMode { store, terminal } => format!(
                "このデータは{}用です。{}の端末では使えません。データの場所を確認してください",
                store.label_ja(),
                terminal.label_ja()
            ),
            ModeError::ResidentSystem(err) => err.message_ja(),
            ModeError::Store(err) => err.message_ja(),
        }
    }
}

/// The resident system a terminal in `mode` may use, from what the configuration says. In training only the
/// reference system: a configured live adapter is refused, whatever else is configured.
pub async fn resident_system_for(
    mode: RunMode,
    setting: &ResidentSystemSetting,
) -> Result<Arc<dyn ResidentSystem>, ModeError> {
    mode.permits(setting)?;
    match setting {
        ResidentSystemSetting::Reference(path) => Ok(Arc::new(ReferenceResidentSystem::open(path).await?)),
        ResidentSystemSetting::Http(url) => Ok(Arc::new(HttpResidentSystem::new(HttpClientConfig::new(url)?)?)),
    }
}

/// Wire a counter for `mode`: the resident system [`resident_system_for`] allows (checked first, so a refused
/// configuration touches nothing), the store's mode claimed or checked, and in training every sheet 「見本」
/// whatever the profile says.
pub async fn counter_for_mode(
    mode: RunMode,
    store: Arc<dyn Store>,
    setting: &ResidentSystemSetting,
    clock: Arc<dyn Clock>,
    mut profile: CertificateProfile,
    station: &str,
) -> Result<Counter, ModeError> {
    let residents = resident_system_for(mode, setting).await?;
    let recorded = store.claim_run_mode(mode, station, clock.now_us()).await?;
    if recorded != mode {
        return Err(ModeError::StoreOfOtherMode { store: recorded, terminal: mode });
    }
    if mode == RunMode::Training {
        profile.specimen = true;
    }
    Ok(Counter::new(store, residents, clock, profile).with_run_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_is_a_live_adapter_only_when_it_is_a_url() {
        assert_eq!(
            ResidentSystemSetting::parse("http://10.0.0.5:8620"),
            ResidentSystemSetting::Http("http://10.0.0.5:8620".into())
        );
        assert_eq!(
            ResidentSystemSetting::parse("HTTPS://residents.ward.lg.jp"),
            ResidentSystemSetting::Http("HTTPS://residents.ward.lg.jp".into())
        );
        assert_eq!(
            ResidentSystemSetting::parse("sqlite:/data/residents.sqlite"),
            ResidentSystemSetting::Reference("/data/residents.sqlite".into())
        );
        assert_eq!(
            ResidentSystemSetting::parse("/data/residents.sqlite"),
            ResidentSystemSetting::Reference("/data/residents.sqlite".into())
        );
        for mode in [RunMode::Live, RunMode::Training] {
            assert_eq!(RunMode::parse(mode.as_str()), Some(mode));
        }
    }

    #[tokio::test]
    async fn training_refuses_every_live_adapter_before_connecting() {
        // Nothing listens on these; a training terminal must not even try.
        for url in ["http://127.0.0.1:9/", "https://residents.example", "HTTP://10.1.2.3:8620/bridge"] {
            let err = resident_system_for(RunMode::Training, &ResidentSystemSetting::parse(url))
                .await
                .err()
                .unwrap_or_else(|| panic!("{url} accepted in training"));
            assert!(matches!(err, ModeError::LiveAdapterInTraining(_)), "{url}: {err}");
            assert!(err.message_ja().contains("研修モード"), "{}", err.message_ja());
        }
    }
}
