//! A directory of throwaway files (certificates, password files) for one
//! test, removed with everything in it when the handle is dropped.

use std::path::{Path, PathBuf};

use super::process::unique_name;

pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<system temp>/<base>-<pid>-<n>`.
    pub fn new(base: &str) -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(unique_name(base));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` in the directory and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> std::io::Result<PathBuf> {
        let path = self.0.join(name);
        std::fs::write(&path, contents)?;
        Ok(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
