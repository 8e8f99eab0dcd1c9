//! Loading the layers (default, profile or environment file, environment variables) and
//! handing a child process its settings as a file.

use super::Settings;
use std::path::{Path, PathBuf};

/// Settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct SettingsError(#[from] config::ConfigError);

impl Settings {
    /// Loads `<dir>/default.toml`, then the file named by `MIGRATOR_ENV_FILE` (or
    /// `<dir>/<MIGRATOR_ENV>.toml` when that is set), then `MIGRATOR__…` variables.
    pub fn load() -> Result<Self, SettingsError> {
        let dir = std::env::var("MIGRATOR_CONFIG_DIR").unwrap_or_else(|_| default_config_dir());
        Self::load_from(Path::new(&dir))
    }

    /// As [`Settings::load`], with an explicit config directory.
    pub fn load_from(dir: &Path) -> Result<Self, SettingsError> {
        Self::load_profile(dir, std::env::var("MIGRATOR_ENV").ok().as_deref())
    }

    /// The development profile of `dir` (`default.toml` + `development.toml`, then the
    /// environment file and variables): what tests and tools run on.
    pub fn development(dir: &Path) -> Result<Self, SettingsError> {
        Self::load_profile(dir, Some("development"))
    }

    /// As [`Settings::load_from`], with the profile named here rather than by `MIGRATOR_ENV`.
    pub fn load_profile(dir: &Path, profile: Option<&str>) -> Result<Self, SettingsError> {
        let mut b = config::Config::builder()
            .add_source(config::File::from(dir.join("default.toml")).required(true));
        if let Some(env) = profile {
            b = b.add_source(config::File::from(dir.join(format!("{env}.toml"))).required(true));
        }
        if let Ok(file) = std::env::var("MIGRATOR_ENV_FILE") {
            b = b.add_source(config::File::from(PathBuf::from(file)).required(true));
        }
        b = b.add_source(
            config::Environment::with_prefix("MIGRATOR")
                .prefix_separator("__")
                .separator("__"),
        );
        let mut s: Settings = b.build()?.try_deserialize()?;
        if let Some(env) = profile {
            s.environment = env.to_string();
        }
        Ok(s)
    }
}

impl Settings {
    /// Writes these settings (secrets included) to `path` as JSON, readable only by the owner,
    /// for a child process to load with `MIGRATOR_ENV_FILE=path`. Written aside and renamed, so
    /// a process starting meanwhile never reads half a file.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(self).expect("settings serialise"))?;
        std::fs::rename(&tmp, path)
    }
}

/// `config/` of the workspace when run from it, else `./config`.
fn default_config_dir() -> String {
    let manifest_cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config");
    if Path::new("config/default.toml").exists() {
        "config".into()
    } else {
        manifest_cfg.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `MIGRATOR__SECTION__KEY` variables override the files, nested keys and map keys
    /// included (the map's key is read lowercased, as the docs' key ids are written).
    #[test]
    fn environment_variables_override_the_files() {
        let _env = super::super::env_lock();
        std::env::set_var("MIGRATOR__CONSOLE__IDLE_TIMEOUT_SECS", "77");
        std::env::set_var("MIGRATOR__CRYPTO__CREDENTIALS_KEYS__ENVTESTKEY", "x");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let s = Settings::load_from(&dir).unwrap();
        std::env::remove_var("MIGRATOR__CONSOLE__IDLE_TIMEOUT_SECS");
        std::env::remove_var("MIGRATOR__CRYPTO__CREDENTIALS_KEYS__ENVTESTKEY");
        assert_eq!(s.console.idle_timeout_secs, 77);
        assert!(
            s.crypto.credentials_keys.contains_key("envtestkey"),
            "{:?}",
            s.crypto.credentials_keys.keys().collect::<Vec<_>>()
        );
        assert_eq!(
            s.api.listen, "127.0.0.1:8080",
            "the files' value where nothing overrides"
        );
    }

    /// A list setting is settable from the environment, comma-separated (what a manifest's
    /// `env` can express), and stays a list in the files.
    #[test]
    fn a_list_setting_is_settable_from_the_environment() {
        let _env = super::super::env_lock();
        std::env::set_var(
            "MIGRATOR__MEDIA__ALLOWED_ORIGINS",
            "https://media.example.com/v1/, https://cdn.example.com",
        );
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let s = Settings::load_from(&dir).unwrap();
        std::env::remove_var("MIGRATOR__MEDIA__ALLOWED_ORIGINS");
        assert_eq!(
            s.media.allowed_origins,
            ["https://media.example.com/v1/", "https://cdn.example.com"]
        );
        let s = Settings::load_from(&dir).unwrap();
        assert!(s.media.allowed_origins.is_empty(), "the file's []");
    }

    /// The development keys come only with the development profile.
    #[test]
    fn development_values_come_only_with_the_development_profile() {
        let _env = super::super::env_lock();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let bare = Settings::load_profile(&dir, None).unwrap();
        assert!(bare.crypto.credentials_keys.is_empty());
        assert!(secrecy::ExposeSecret::expose_secret(&bare.api.jwt_secret).is_empty());
        let prod = Settings::load_profile(&dir, Some("production")).unwrap();
        assert!(prod.crypto.credentials_keys.is_empty() && prod.is_production());
        let dev = Settings::development(&dir).unwrap();
        assert!(dev.is_development() && dev.crypto.credentials_keys.contains_key("dev-1"));
    }
}
